import { Command, CommanderError, Option } from 'commander';
import { InputError, NotFoundError, RecordError, StoreUnavailableError } from '../errors.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, type CliIo } from './context.js';
import { checkRequiredOptions } from './options.js';
import { terminalLine, terminalLines } from './terminal.js';

const processIo: CliIo = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  get stdoutIsTerminal() {
    return process.stdout.isTTY === true;
  },
  get stderrIsTerminal() {
    return process.stderr.isTTY === true;
  },
  get stdinIsTerminal() {
    return process.stdin.isTTY === true;
  },
  readStdin,
};

/** Standard input up to `maxBytes`, as UTF-8 text; stops reading there. */
async function readStdin(maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const buffer = chunk as Buffer;
    chunks.push(buffer);
    size += buffer.length;
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

/**
 * Each command's module, loaded only when that command runs: `token` and `job` then skip the
 * proxy's modules (undici, pino, prom-client, jose), which is most of the CLI's start-up.
 */
const COMMANDS = {
  token: async (io: CliIo) => (await import('./token.js')).tokenCommand(io),
  job: async (io: CliIo) => (await import('./job.js')).jobCommand(io),
  events: async (io: CliIo) => (await import('./events.js')).eventsCommand(io),
  serve: async (io: CliIo) => (await import('./serve.js')).serveCommand(io),
  demo: async (io: CliIo) => (await import('./demo.js')).demoCommand(io),
  keys: async (io: CliIo) => (await import('./keys.js')).keysCommand(io),
  login: async (io: CliIo) => (await import('./login.js')).loginCommand(io),
  logout: async (io: CliIo) => (await import('./login.js')).logoutCommand(io),
} as const;
type CommandName = keyof typeof COMMANDS;

/** Where token, job and events go, in `jobgate --help`. */
const REGISTRY_HELP = `
Where token, job and events go, first match wins:
  1. --server <url> or JOBGATE_SERVER: that jobgate's control API, with JOBGATE_TOKEN (or the
     token jobgate login stored, when it was stored for the same server)
  2. --redis-url, --config, JOBGATE_REDIS_URL, JOBGATE_REDIS_SENTINELS or
     JOBGATE_REDIS_CLUSTER_NODES: Redis, even when logged in
  3. the server and token stored by jobgate login (see jobgate login --help)
  4. Redis (JOBGATE_KEY_PREFIX, --key-prefix; default redis://127.0.0.1:6379)
See "Managing tokens without Redis access" in the README.
`;

/** Global options that take a value (the value is not a command name). */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--config', '--redis-url', '--key-prefix', '--server', '--token']);

/** The command that argv names, when it names one of ours; undefined for help, or an unknown or missing command. */
export function commandNamed(argv: readonly string[]): CommandName | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return Object.hasOwn(COMMANDS, arg) ? (arg as CommandName) : undefined;
  }
  return undefined;
}

/** The program with `only` (one command), or with every command (help, unknown commands). */
export async function buildProgram(io: CliIo, only?: CommandName): Promise<Command> {
  const program = new Command('jobgate')
    .description('Authenticating reverse proxy for job URLs, and the admin commands that manage its registry: in Redis, or through its control API (--server).')
    .option('--config <file>', 'YAML config file (see config/jobgate.yaml)')
    .option('--redis-url <url>', 'Redis URL (env JOBGATE_REDIS_URL; default redis://127.0.0.1:6379)')
    .option('--key-prefix <prefix>', 'prefix of every Redis key (env JOBGATE_KEY_PREFIX; default jobgate:)')
    .option(
      '--server <url>',
      "token, job and events go through this jobgate's control API instead of Redis (env JOBGATE_SERVER), with the operator token in env JOBGATE_TOKEN (or the one jobgate login stored for this server)",
    )
    // Only to say why it is refused: a token on the command line is visible to every user of the machine.
    .addOption(new Option('--token <token>').hideHelp())
    .addHelpText('after', REGISTRY_HELP)
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (text, write) => write(commanderErrorLine(text)) });
  program.hook('preAction', (_program, action) => {
    checkRequiredOptions(action);
    refuseCommandLineToken(action.optsWithGlobals<{ token?: string }>().token);
    warnOfCommandLinePassword(action.optsWithGlobals<{ redisUrl?: string }>().redisUrl, io);
  });
  const names = only === undefined ? (Object.keys(COMMANDS) as CommandName[]) : [only];
  for (const command of await Promise.all(names.map((name) => COMMANDS[name](io)))) program.addCommand(command);
  // Every command reports its own errors through the same exit path below.
  const exitOverride = (command: Command): void => {
    command.exitOverride();
    command.configureOutput(program.configureOutput());
    for (const sub of command.commands) exitOverride(sub);
  };
  exitOverride(program);
  return program;
}

const SUGGESTION = '\n(Did you mean ';

/**
 * Commander's message as one line: it can quote an argument (an unknown command or option),
 * which may hold control characters or line breaks; its own suggestion, if any, ends the line.
 */
function commanderErrorLine(text: string): string {
  const message = text.replace(/^error: /, '').replace(/\n$/, '');
  const suggestionAt = message.lastIndexOf(SUGGESTION);
  if (suggestionAt < 0) return `jobgate: ${terminalLine(message)}\n`;
  return `jobgate: ${terminalLine(message.slice(0, suggestionAt))} ${terminalLine(message.slice(suggestionAt + 1))}\n`;
}

/**
 * Any user of the machine reads a command line (ps, /proc/<pid>/cmdline): a password in
 * --redis-url is said so, on one line of stderr; the command runs as it would without it.
 */
function warnOfCommandLinePassword(redisUrl: string | undefined, io: CliIo): void {
  if (redisUrl === undefined || !URL.canParse(redisUrl) || new URL(redisUrl).password === '') return;
  io.stderr('jobgate: warning: the password in --redis-url is visible to every user of this machine in the process list; set JOBGATE_REDIS_URL instead\n');
}

/** The token is read from JOBGATE_TOKEN only: any user of the machine reads a command line. */
function refuseCommandLineToken(token: string | undefined): void {
  if (token === undefined) return;
  throw new InputError('--token is refused: a command line is visible to every user of this machine; set JOBGATE_TOKEN to an operator token instead');
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  // Whatever a command writes on stderr (warnings, jobgate's log lines in the demo) reaches the
  // terminal with its control characters escaped. Messages that quote a value also escape line
  // breaks (terminalLine), so that each stays one line.
  const escapedIo: CliIo = { ...io, stderr: (text) => io.stderr(terminalLines(text)) };
  const program = await buildProgram(escapedIo, commandNamed(argv));
  if (argv.length === 0) {
    io.stdout(program.helpInformation());
    return EXIT_OK;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    return reportError(error, escapedIo);
  }
}

function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message (or the help / version).
    return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  // One line, whatever the message quotes (a record's field, a key, an argument).
  io.stderr(`jobgate: ${terminalLine(message)}\n`);
  if (error instanceof InputError) return EXIT_USAGE;
  if (error instanceof NotFoundError || error instanceof StoreUnavailableError || error instanceof RecordError) return EXIT_FAILURE;
  return EXIT_FAILURE;
}
