/** A progress bar on stderr, only when stderr is a terminal and the work is large enough to wait for. */
const MIN_BYTES = 64 << 20;

export function progressBar(label: string, enabled: boolean): ((done: number, total: number) => void) | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  let last = 0;
  const started = Date.now();
  return (done, total) => {
    if (total < MIN_BYTES) return;
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? done / secs / 1e6 : 0;
    process.stderr.write(
      `\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${((100 * done) / total).toFixed(0).padStart(3)}% ` +
        `${(done / 2 ** 20).toFixed(0)}/${(total / 2 ** 20).toFixed(0)} MiB ${rate.toFixed(0)} MB/s`,
    );
    if (done >= total) process.stderr.write('\n');
  };
}
