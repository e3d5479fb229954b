/**
 * `eif web [--port N] [--host 127.0.0.1]` — serve the verification page (issue 13, docs/web.md) locally and print
 * its URL; it runs until Ctrl-C (then exit 0). The page is the package's dist-web/ folder; everything it does runs
 * in the browser, and the server only hands out its files, with the page's Content-Security-Policy.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';

interface WebArgs {
  port: number;
  host: string;
}

export const webCommand: CommandModule<object, WebArgs> = {
  command: 'web',
  describe: 'Serve the in-browser EIF / attestation checker page locally and print its URL',
  builder: (y: Argv) =>
    y
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0: any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on (0.0.0.0 or :: to share it on the network)' }) as unknown as Argv<WebArgs>,
  handler: async (a) => {
    if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) throw usageError('--port must be an integer from 0 to 65535');
    if (a.host.trim() === '') throw usageError('--host must not be empty');
    const { startWebServer } = await import('../../node/web-server.js');
    const s = await startWebServer({ host: a.host, port: a.port });
    process.stdout.write(`${s.url}\n`);
    process.stderr.write('eif web: serving the page (everything runs in the browser; nothing is uploaded). Ctrl-C stops it.\n');
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, stop);
        void s.close().then(resolve);
      };
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, stop);
    });
  },
};
