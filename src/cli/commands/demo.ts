/**
 * `eif demo` (what `npm start` runs): build the embedded sample image (src/eif/sample.ts) with pinned metadata,
 * print its measurements, then describe and verify it; then build an EIF from a small container image (a
 * `docker save` archive made in memory, ../demo-image.ts) with stand-in blobs, as `eif build --docker-archive`
 * does — the whole toolchain on a fresh clone, no Docker, no downloads.
 */
import type { Argv, CommandModule } from 'yargs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

interface DemoArgs {
  output: string;
}

const say = (s: string) => process.stdout.write(s + '\n');

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Build, describe and verify a small sample EIF from embedded stand-in inputs',
  builder: (y: Argv) =>
    y.option('output', {
      type: 'string',
      default: join(tmpdir(), 'eifkit-sample', 'sample.eif'),
      describe: 'where to write the sample EIF',
    }) as unknown as Argv<DemoArgs>,
  handler: async (a) => {
    const { sampleInputs } = await import('../../eif/sample.js');
    const { buildEifFile } = await import('../../node/builder.js');
    const { describeEifFileDetails } = await import('../../node/describe.js');
    const { verifyEifFile } = await import('../../node/verify.js');
    const output = resolve(a.output);
    mkdirSync(dirname(output), { recursive: true });
    const inputs = sampleInputs();
    const work = mkdtempSync(join(tmpdir(), 'eifkit-demo-'));
    try {
      const kernel = join(work, 'bzImage');
      writeFileSync(kernel, inputs.kernel);
      const ramdisks = inputs.ramdisks.map((r, i) => {
        const p = join(work, `ramdisk${i}.cpio`);
        writeFileSync(p, r);
        return p;
      });
      say('1. build — stand-in kernel (256 KiB), bootstrap ramdisk (dev/, init, nsm.ko) and app ramdisk (rootfs/, cmd, env)');
      const built = await buildEifFile({
        kernel,
        cmdline: inputs.cmdline,
        ramdisks,
        output,
        name: 'eifkit-sample',
        version: '1.0',
        buildTime: '2024-01-01T00:00:00+00:00',
      });
      say(`   wrote ${output} (${built.size} bytes); measurements:`);
      say(JSON.stringify({ Measurements: built.measurements }, null, 2).replace(/^/gm, '   '));
      say('2. describe (nitro-cli describe-eif JSON)');
      const d = await describeEifFileDetails(output);
      say(JSON.stringify(d.describe, null, 2).replace(/^/gm, '   '));
      say('3. verify — structure, CRC and the PCRs the build printed');
      const { PCR0, PCR1, PCR2 } = built.measurements;
      const v = await verifyEifFile(output, { expected: { PCR0, PCR1, PCR2 } });
      for (const c of v.checks) say(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(11)} ${c.ok ? '' : c.code + ': '}${c.detail}`);
      say(v.ok ? 'The sample image is well-formed and its measurements match.' : 'The sample image did NOT verify.');
      process.exitCode = v.ok ? 0 : 1;

      say('4. build from a container image — a small `docker save` archive (eifkit-demo:1) and stand-in blobs, no Docker');
      const { demoDockerArchive } = await import('../demo-image.js');
      const { standinBlobs } = await import('../../oci/standin-blobs.js');
      const { buildEifFileFromImage } = await import('../../node/oci/build-image.js');
      const archive = join(work, 'eifkit-demo.tar');
      writeFileSync(archive, demoDockerArchive());
      const blobs = join(work, 'blobs');
      mkdirSync(blobs);
      for (const [name, bytes] of Object.entries(standinBlobs('x86_64'))) writeFileSync(join(blobs, name), bytes);
      const imageEif = join(dirname(output), 'sample-from-image.eif');
      const fromImage = await buildEifFileFromImage({
        kind: 'docker-archive',
        path: archive,
        blobsDir: blobs,
        output: imageEif,
        buildTime: '2024-01-01T00:00:00+00:00',
        sourceDateEpoch: '1704067200',
        env: {},
      });
      say(`   eif build --docker-archive eifkit-demo.tar --blobs <stand-ins> → ${imageEif} (${fromImage.size} bytes)`);
      say(`   image ${fromImage.image.repoTags.join(', ')} (${fromImage.image.architecture}, ${fromImage.image.layers} layer); customer ramdisk: ${fromImage.ramdisks.customerEntries} entries, ${fromImage.ramdisks.customer} bytes`);
      say(`   ImageName ${fromImage.metadata.imageName}, ImageVersion ${fromImage.metadata.imageVersion.slice(0, 12)}…; measurements:`);
      say(JSON.stringify({ Measurements: fromImage.measurements }, null, 2).replace(/^/gm, '   '));
      say('   PCR2 follows from the image alone, by nitro-cli\'s rules; PCR0/PCR1 follow the (stand-in) blobs.');
      say('   Inspect the ramdisks with: eif build --docker-archive … --emit-ramdisks DIR, then eif ramdisk ls DIR/customer-initrd.img');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
