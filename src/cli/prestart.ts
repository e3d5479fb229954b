/**
 * Should the hash workers start before the CLI has loaded its argument parser? A hint from the raw argv, not a
 * parser: for the commands that stream an image through the hash pipeline, it adds up the sizes of the regular
 * files the command line names (an --output value excluded). When that reaches the pipeline's threshold, the
 * workers' ~80 ms of boot (src/node/hash-workers.ts) overlaps the ~120 ms the CLI takes to load yargs and its
 * commands. A wrong guess costs only that overlap, or a worker boot that goes unused.
 */
import { statSync } from 'node:fs';

const STREAMING = new Set(['build', 'describe', 'describe-eif', 'verify', 'sign', 'sign-eif']);
const OUTPUT_FLAGS = new Set(['--output', '-o', '--output-file']);

/**
 * An image build (`--docker-archive`, `--oci-archive`, `--oci-layout`) reads its layers for seconds before it hashes
 * anything: workers started now would only add their memory to that pass's peak (peak RSS target, issue 11).
 */
const IMAGE_INPUT = /^--(docker-archive|oci-archive|oci-layout)(=|$)/;

export function streamedBytesHint(argv: string[]): number {
  if (!STREAMING.has(argv[0] ?? '') || argv.includes('--help') || argv.includes('-h')) return 0;
  if (argv.some((t) => IMAGE_INPUT.test(t))) return 0;
  let total = 0;
  for (let i = 1; i < argv.length; i++) {
    const token = argv[i]!;
    if (OUTPUT_FLAGS.has(token)) {
      i++;
      continue;
    }
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    if (eq > 0 && OUTPUT_FLAGS.has(token.slice(0, eq))) continue;
    const path = eq > 0 ? token.slice(eq + 1) : token;
    try {
      const st = statSync(path, { throwIfNoEntry: false });
      if (st?.isFile()) total += st.size;
    } catch {
      // not a path we can see: not a hint
    }
  }
  return total;
}
