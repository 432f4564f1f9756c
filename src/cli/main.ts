import { Command, CommanderError } from 'commander';
import { InputError, NotFoundError, RecordError, StoreUnavailableError } from '../errors.js';
import { demoCommand } from './demo.js';
import { jobCommand } from './job.js';
import { keysCommand } from './keys.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';

/** Where the CLI writes and what it reads: the process by default, captured in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export const EXIT_OK = 0;
/** A runtime failure: not found, Redis unreachable, malformed record. */
export const EXIT_FAILURE = 1;
/** Bad input: unknown role, bad selector, bad URL, bad id, missing argument, bad setting. */
export const EXIT_USAGE = 2;

const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
};

export function buildProgram(io: CliIo): Command {
  const program = new Command('jobgate')
    .description('Authenticating reverse proxy for job URLs, and the admin commands that seed its Redis registry.')
    .option('--config <file>', 'YAML config file (see config/jobgate.yaml)')
    .option('--redis-url <url>', 'Redis URL (env JOBGATE_REDIS_URL; default redis://127.0.0.1:6379)')
    .option('--key-prefix <prefix>', 'prefix of every Redis key (env JOBGATE_KEY_PREFIX; default jobgate:)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (text, write) => write(`jobgate: ${text.replace(/^error: /, '')}`) });
  program.addCommand(tokenCommand(io));
  program.addCommand(jobCommand(io));
  program.addCommand(serveCommand(io));
  program.addCommand(demoCommand(io));
  program.addCommand(keysCommand(io));
  // Every command reports its own errors through the same exit path below.
  const exitOverride = (command: Command): void => {
    command.exitOverride();
    command.configureOutput(program.configureOutput());
    for (const sub of command.commands) exitOverride(sub);
  };
  exitOverride(program);
  return program;
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return reportError(error, io);
  }
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help / version).
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`jobgate: ${message.split('\n')[0]}\n`);
  if (error instanceof InputError) return EXIT_USAGE;
  if (error instanceof NotFoundError || error instanceof StoreUnavailableError || error instanceof RecordError) return EXIT_FAILURE;
  return EXIT_FAILURE;
}
