/** The command registry: one module per command (or command group). Keep alphabetical. */
import type { CommandModule } from 'yargs';
import { attestCommand } from './attest.js';
import { benchCommand } from './bench.js';
import { blobsCommand } from './blobs.js';
import { buildCommand, buildEnclaveCommand } from './build.js';
import { demoCommand } from './demo.js';
import { describeCommand, describeEifCommand } from './describe.js';
import { explainCommand } from './explain.js';
import { consoleCommand, describeEnclavesCommand, runCommand, terminateEnclaveCommand } from './launcher.js';
import { pcrCommand } from './pcr.js';
import { ramdiskCommand } from './ramdisk.js';
import { signCommand } from './sign.js';
import { verifyCommand } from './verify.js';
import { webCommand } from './web.js';

export const commands: CommandModule<any, any>[] = [
  attestCommand,
  benchCommand,
  blobsCommand,
  buildCommand,
  buildEnclaveCommand,
  demoCommand,
  describeCommand,
  describeEifCommand,
  explainCommand,
  pcrCommand,
  ramdiskCommand,
  runCommand, describeEnclavesCommand, terminateEnclaveCommand, consoleCommand,
  signCommand,
  verifyCommand,
  webCommand,
];
