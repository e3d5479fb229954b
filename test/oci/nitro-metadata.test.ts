/** nitro-cli-shaped metadata of an image build (src/oci/nitro-metadata.ts; oci-build.md §1.1 "Metadata"). */
import { describe, expect, it } from 'vitest';
import { imageContentSize, imageMetadataFields, nitroImageName, nitroImageVersion, synthesizeDockerInfo } from '../../src/oci/nitro-metadata.js';
import { stringifySerdeJson, toPlain } from '../../src/eif/serde-json.js';
import type { ImageSelection, TarEntry } from '../../src/oci/types.js';

const digest = 'sha256:' + 'ab'.repeat(32);
const sel: ImageSelection = {
  architecture: 'amd64',
  os: 'linux',
  cmd: ['/app/server'],
  env: ['PATH=/usr/bin'],
  config: {
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    author: 'me',
    config: { Env: ['PATH=/usr/bin'], Cmd: ['/app/server'], WorkingDir: '/app' },
    rootfs: { type: 'layers', diff_ids: ['sha256:' + '01'.repeat(32)] },
    history: [{ created_by: 'x' }],
  },
  configDigest: digest,
  repoTags: ['registry.example:5000/team/app:1.2', 'app:latest'],
  layers: [],
  warnings: [],
};
const entry = (type: TarEntry['type'], size: number): TarEntry => ({ name: 'x', type, mode: 0o644, uid: 0, gid: 0, mtime: 0, size, linkname: '', devmajor: 0, devminor: 0, dataOffset: 0 });

describe('ImageName and ImageVersion as nitro-cli derives them', () => {
  it('the reference up to its first colon (also a registry port: nitro-cli\'s rule)', () => {
    expect(nitroImageName(sel, { reference: 'app:1.2' })).toBe('app');
    expect(nitroImageName(sel, { reference: 'app' })).toBe('app');
    expect(nitroImageName(sel, { reference: 'localhost:5000/app:1' })).toBe('localhost');
  });
  it('archives: the chosen tag, else the first tag, else the file name', () => {
    expect(nitroImageName(sel, { fileName: 'x.tar' })).toBe('registry.example');
    expect(nitroImageName({ repoTags: ['app:latest'] }, { fileName: 'x.tar' })).toBe('app');
    expect(nitroImageName({ repoTags: [] }, { fileName: 'app-oci.tar' })).toBe('app-oci.tar');
  });
  it('ImageVersion: the image Id without sha256:', () => {
    expect(nitroImageVersion(sel)).toBe('ab'.repeat(32));
  });
  it('--name / --version win', () => {
    const m = imageMetadataFields(sel, [], { fileName: 'a.tar' }, { name: 'mine', version: '7' });
    expect(m).toMatchObject({ name: 'mine', version: '7' });
    expect(imageMetadataFields(sel, [], { reference: 'app:9' }, {})).toMatchObject({ name: 'app', version: 'ab'.repeat(32) });
  });
});

describe('DockerInfo', () => {
  it('is built from the config and the store only: no host-dependent fields; keys sorted as serde_json writes a Value', () => {
    const info = synthesizeDockerInfo(sel, { size: 42 });
    const plain = toPlain(info) as Record<string, unknown>;
    expect(plain).toEqual({
      Architecture: 'amd64',
      Author: 'me',
      Comment: '',
      Config: { Cmd: ['/app/server'], Env: ['PATH=/usr/bin'], WorkingDir: '/app' },
      Created: '2024-01-01T00:00:00Z',
      DockerVersion: '',
      Id: digest,
      Os: 'linux',
      Parent: '',
      RepoDigests: [],
      RepoTags: ['registry.example:5000/team/app:1.2', 'app:latest'],
      RootFS: { Layers: ['sha256:' + '01'.repeat(32)], Type: 'layers' },
      Size: 42,
    });
    const text = stringifySerdeJson(info);
    expect(text).not.toMatch(/GraphDriver|LastTagTime|Metadata/);
    expect(Object.keys(plain)).toEqual([...Object.keys(plain)].sort());
  });
  it('Variant and OsVersion only when the config has them', () => {
    const p = toPlain(synthesizeDockerInfo({ ...sel, architecture: 'arm64', config: { ...sel.config, variant: 'v8', 'os.version': '1' } })) as Record<string, unknown>;
    expect(p).toMatchObject({ Architecture: 'arm64', Variant: 'v8', OsVersion: '1' });
  });
  it('Size: bytes of the regular files of all layers (hard links and directories count nothing)', () => {
    expect(imageContentSize([{ entries: [entry('file', 10), entry('dir', 0), entry('hardlink', 0)] }, { entries: [entry('file', 5), entry('symlink', 0)] }])).toBe(15);
  });
});
