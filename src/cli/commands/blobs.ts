/**
 * `eif blobs`: which nitro-cli blobs an image build would use (src/node/oci/blobs.ts; shared oci-build.md §1.1,
 * §4), and `eif blobs --standin DIR`: write eifkit's stand-in blobs (src/oci/standin-blobs.ts; they do not boot)
 * in the repository layout `DIR/x86_64/`, `DIR/aarch64/`, to try image builds without AWS's files.
 */
import type { Argv, CommandModule } from 'yargs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { printJson } from '../output.js';

interface BlobsArgs {
  blobs?: string;
  arch: 'x86_64' | 'aarch64';
  standin?: string;
}

export const blobsCommand: CommandModule<object, BlobsArgs> = {
  command: 'blobs',
  describe: 'Show the nitro-cli blobs an image build uses (--blobs, $NITRO_CLI_BLOBS, default), or write stand-ins (--standin DIR)',
  builder: (y: Argv) =>
    y
      .option('blobs', { type: 'string', describe: 'blobs folder to check (default: $NITRO_CLI_BLOBS, else /usr/share/nitro_enclaves/blobs/)' })
      .option('arch', { choices: ['x86_64', 'aarch64'] as const, default: 'x86_64' as const, describe: "the image's architecture (amd64 → x86_64, arm64 → aarch64)" })
      .option('standin', { type: 'string', describe: 'write stand-in blobs (not bootable) to DIR/x86_64 and DIR/aarch64' })
      .example('$0 blobs --standin ./blobs && eif build --docker-archive app.tar --blobs ./blobs --output app.eif', 'try an image build without AWS\'s blobs')
      .strictOptions() as unknown as Argv<BlobsArgs>,
  handler: async (a) => {
    if (a.standin !== undefined) {
      const { standinBlobs } = await import('../../oci/standin-blobs.js');
      const { writeSourceFile } = await import('../../node/oci/build-image.js');
      const { bytesSource } = await import('../../eif/layout.js');
      for (const arch of ['x86_64', 'aarch64'] as const) {
        const dir = join(a.standin, arch);
        mkdirSync(dir, { recursive: true });
        for (const [name, bytes] of Object.entries(standinBlobs(arch))) await writeSourceFile(bytesSource(bytes), join(dir, name));
        process.stdout.write(`${dir}: ${Object.keys(standinBlobs(arch)).join(', ')} (eifkit stand-ins: they do not boot)\n`);
      }
      return;
    }
    const { resolveBlobs } = await import('../../node/oci/blobs.js');
    const b = resolveBlobs({ dir: a.blobs, arch: a.arch });
    for (const w of b.warnings) process.stderr.write(`eif: warning: ${w}\n`);
    printJson({ Dir: b.dir, ChosenBy: b.chosenBy, Arch: b.arch, Kernel: b.kernel, KernelConfig: b.kernelConfig ?? null, Cmdline: new TextDecoder().decode(b.cmdline), Init: b.init, NsmKo: b.nsmKo });
  },
};
