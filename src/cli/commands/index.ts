/** The command registry: one module per command (or command group). Keep alphabetical. */
import type { CommandModule } from 'yargs';

export const commands: CommandModule<any, any>[] = [
];
