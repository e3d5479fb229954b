/**
 * What `eif build --docker-uri` needs from the registry room, in one call (issue 12): the flags as the CLI parsed them
 * → a pulled image (a BlobStore read like an OCI layout, for `selectImage`) with per-layer progress on a TTY.
 * Time-outs can be tightened for tests with EIF_REGISTRY_TIMEOUT_MS / EIF_REGISTRY_RETRIES / EIF_REGISTRY_BACKOFF_MS.
 */
import { usageError } from '../../errors.js';
import { layerProgress, type ProgressStream } from './progress.js';
import { pullImage, type PulledImage, type PullOptions } from './pull.js';

export { pullImage, parsePlatform, choosePlatform, hostPlatform, type PulledImage, type PullOptions, type PullProgress, type Platform } from './pull.js';
export { parseReference, formatReference, type ImageReference } from './reference.js';
export { findCredentials, type Credential, type CredentialLookup, type CredentialOptions } from './credentials.js';
export { layerProgress } from './progress.js';
export { defaultCacheDir } from './cache.js';

/** The registry flags of `eif build` / `eif build-enclave`, as yargs gives them. */
export interface RegistryFlags {
  'docker-uri': string;
  platform?: string;
  /** `--cache DIR`; yargs turns `--no-cache` into `cache: false`. */
  cache?: string | false;
  'no-cache'?: boolean;
  'insecure-registry'?: string[] | string;
  quiet?: boolean;
}

/** yargs option specs for the registry flags (`.options(REGISTRY_OPTIONS)`); `--platform` is shared with image archives. */
export const REGISTRY_OPTIONS = {
  cache: { type: 'string', describe: 'blob cache folder for --docker-uri (default: $XDG_CACHE_HOME/eifkit, else ~/.cache/eifkit); --no-cache: a temporary one' },
  'insecure-registry': { type: 'string', array: true, describe: 'registry host[:port] or CIDR allowed over plain HTTP / unverified TLS (localhost and 127.0.0.0/8 always are), repeatable' },
} as const;

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw usageError(`${name}=${JSON.stringify(v)}: expected a whole number`);
  return Number(v);
}

/**
 * Pull the image `--docker-uri` names, with the CLI's flags: `--platform`, `--cache DIR` / `--no-cache`,
 * `--insecure-registry HOST`, and per-layer progress on stderr unless `--quiet`. The caller closes the result.
 *
 * @example
 * import { pullFromFlags } from 'eifkit';
 * const img = await pullFromFlags({ 'docker-uri': 'localhost:5000/app:1', platform: 'linux/amd64', quiet: true });
 * try {
 *   // const sel = await selectImage(img.store, { platform: 'linux/amd64' });
 * } finally {
 *   img.close();
 * }
 */
export async function pullFromFlags(
  flags: RegistryFlags,
  stderr: ProgressStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
  more: Pick<PullOptions, 'unpack'> = {},
): Promise<PulledImage> {
  const noCache = flags['no-cache'] === true || flags.cache === false;
  if (noCache && typeof flags.cache === 'string') throw usageError('--cache and --no-cache exclude each other');
  const insecure = flags['insecure-registry'];
  const progress = layerProgress(stderr, flags.quiet === true);
  const opts: PullOptions = {
    platform: flags.platform,
    noCache,
    cacheDir: typeof flags.cache === 'string' ? flags.cache : undefined,
    insecureRegistries: insecure === undefined ? [] : Array.isArray(insecure) ? insecure : [insecure],
    timeoutMs: envInt(env, 'EIF_REGISTRY_TIMEOUT_MS'),
    retries: envInt(env, 'EIF_REGISTRY_RETRIES'),
    backoffMs: envInt(env, 'EIF_REGISTRY_BACKOFF_MS'),
    onProgress: progress?.update,
    env,
    ...more,
  };
  try {
    return await pullImage(flags['docker-uri'], opts);
  } finally {
    progress?.finish();
  }
}
