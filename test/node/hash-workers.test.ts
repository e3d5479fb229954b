import { afterAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildEifBytes } from '../../src/eif/builder.js';
import { inspectEifFile } from '../../src/node/reader.js';
import { idleHashWorkers, prestartHashWorkers, takeHashWorkers } from '../../src/node/hash-workers.js';
import { streamedBytesHint } from '../../src/cli/prestart.js';
import { tempDir } from '../helpers/eif.js';
import { initCore } from '../../src/core/index.js';

await initCore();

const pins = { buildTime: '2024-01-01T00:00:00+00:00', name: 'w', version: '1' } as const;

describe('pre-started hash workers (src/node/hash-workers.ts)', () => {
  const dir = tempDir();
  let image: string;
  let expected: Record<string, string>;

  it('a pipeline takes the pre-started pair, which then is no longer idle', async () => {
    const kernel = new Uint8Array(3 << 20).map((_, i) => (i * 5) & 0xff);
    const rd0 = new Uint8Array(1 << 20).map((_, i) => (i * 3) & 0xff);
    const rd1 = new Uint8Array(5 << 20).map((_, i) => (i * 11) & 0xff);
    const mem = await buildEifBytes({ ...pins, kernel, kernelFileName: 'k', cmdline: 'x', ramdisks: [rd0, rd1] });
    image = join(dir, 'w.eif');
    writeFileSync(image, mem.eif);
    expected = mem.measurements as unknown as Record<string, string>;
    prestartHashWorkers();
    const idle = idleHashWorkers();
    expect(idle).toHaveLength(2);
    prestartHashWorkers(); // idempotent while unused
    expect(idleHashWorkers()).toEqual(idle);
    const r = await inspectEifFile(image, { parallel: true });
    expect(r.measurements).toEqual(expected);
    expect(idleHashWorkers()).toHaveLength(0);
  });

  it('a pre-started worker that died while idle is replaced, not handed out', async () => {
    prestartHashWorkers();
    const [a] = idleHashWorkers();
    await a!.terminate();
    await new Promise((r) => setImmediate(r)); // let the 'exit' event mark it dead
    const r = await inspectEifFile(image, { parallel: true });
    expect(r.measurements).toEqual(expected);
  });

  it('takeHashWorkers without a pre-start spawns a fresh pair', async () => {
    expect(idleHashWorkers()).toHaveLength(0);
    const pair = takeHashWorkers();
    expect(pair).toHaveLength(2);
    await Promise.all(pair.map(async (w) => {
      const exited = once(w, 'exit');
      await w.terminate();
      await exited;
    }));
  });

  afterAll(async () => {
    await Promise.all(idleHashWorkers().map((w) => w.terminate()));
  });
});

describe('the CLI hint for pre-starting workers (src/cli/prestart.ts)', () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  const big = join(dir, 'big');
  const small = join(dir, 'small');
  writeFileSync(big, new Uint8Array(3000));
  writeFileSync(small, new Uint8Array(10));

  it('adds up the regular files a streaming command names, in any flag form', () => {
    expect(streamedBytesHint(['describe', big])).toBe(3000);
    expect(streamedBytesHint(['describe-eif', '--eif-path', big])).toBe(3000);
    expect(streamedBytesHint(['verify', '--pcr0', 'ab', big, '--quiet'])).toBe(3000);
    expect(streamedBytesHint(['build', '--kernel', big, '--ramdisk', small, `--ramdisk=${big}`, '--cmdline', 'x'])).toBe(6010);
    expect(streamedBytesHint(['sign', '--eif-path', big, '--private-key', small])).toBe(3010);
  });

  it('leaves out --output, folders, missing paths, --help and other commands', () => {
    expect(streamedBytesHint(['build', '--kernel', small, '--output', big])).toBe(10);
    expect(streamedBytesHint(['build', '--kernel', small, `--output=${big}`])).toBe(10);
    expect(streamedBytesHint(['describe', dir, join(dir, 'missing')])).toBe(0);
    expect(streamedBytesHint(['describe', big, '--help'])).toBe(0);
    expect(streamedBytesHint(['attest', 'inspect', big])).toBe(0);
    expect(streamedBytesHint(['pcr', '--input', big])).toBe(0);
    expect(streamedBytesHint([])).toBe(0);
  });
});
