/**
 * Image references as Docker reads them (distribution/reference's "normalized named"): `app` →
 * `docker.io/library/app:latest`; the first path component is a registry host when it holds a `.` or a `:` or is
 * `localhost`; a tag after the last `:` of the last component; a digest after `@`. Issue 12, "What the user runs".
 */
import { usageError } from '../../errors.js';

export interface ImageReference {
  /** Registry host as the user names it (`docker.io`, `ghcr.io`, `localhost:5000`). */
  registry: string;
  /** Repository path (`library/app`, `org/app`). */
  repository: string;
  /** Tag, when given (or `latest` when neither tag nor digest is). */
  tag?: string;
  /** `sha256:<64 hex>`, when given. */
  digest?: string;
}

/** Docker Hub's name, its API host, and the server URL its credentials are stored under. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API = 'registry-1.docker.io';
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/**
 * Parse a `--docker-uri` value the way `docker pull` does. Throws USAGE_IMAGE_REFERENCE (exit 2) with the rule broken.
 *
 * @example
 * import { parseReference } from 'eifkit';
 * parseReference('app'); // { registry: 'docker.io', repository: 'library/app', tag: 'latest' }
 * parseReference('localhost:5000/org/app@sha256:' + 'ab'.repeat(32)); // { registry: 'localhost:5000', repository: 'org/app', digest: … }
 */
export function parseReference(input: string): ImageReference {
  const bad = (why: string) => usageError(`--docker-uri ${JSON.stringify(input)}: ${why}`, 'USAGE_IMAGE_REFERENCE');
  if (typeof input !== 'string' || input === '') throw bad('empty image reference');
  if (input.length > 4096) throw bad('longer than 4096 characters');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw bad(digest.startsWith('sha256:') ? 'the digest must be sha256: and 64 lowercase hex digits' : 'only sha256 digests are supported (sha256:<64 hex>)');
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`invalid tag ${JSON.stringify(tag)} (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')`);
  }
  let registry = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      path = rest.slice(slash + 1);
      if (!HOST.test(registry)) throw bad(`invalid registry host ${JSON.stringify(registry)}`);
    }
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (path === '') throw bad('no repository name');
  if (path !== path.toLowerCase()) throw bad('repository names must be lowercase');
  const parts = path.split('/');
  for (const p of parts) {
    if (!COMPONENT.test(p)) throw bad(`invalid repository path component ${JSON.stringify(p)}`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) path = `library/${path}`;
  if (path.length + registry.length + 1 > 255) throw bad('repository name longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * The canonical string: `docker.io/library/app:latest`, `host/repo@sha256:…`, `host/repo:tag@sha256:…`.
 *
 * @example
 * import { formatReference, parseReference } from 'eifkit';
 * formatReference(parseReference('app')); // 'docker.io/library/app:latest'
 */
export function formatReference(r: ImageReference): string {
  return `${r.registry}/${r.repository}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** The host the v2 API is served from (Docker Hub's API lives on registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
