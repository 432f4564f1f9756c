/**
 * What every command receives: where it writes, what it reads, its global options, and the exit
 * codes. Type-only and constants, so that main.ts loads nothing else before it picks a command.
 */

/** Where the CLI writes and what it reads: the process by default, captured in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal: a table may then be coloured. */
  readonly stdoutIsTerminal?: boolean;
  /** Whether stderr is a terminal: notes meant for a person at the keyboard are then printed. */
  readonly stderrIsTerminal?: boolean;
  /** Whether standard input is a terminal: `jobgate login` then refuses to read a token from it. */
  readonly stdinIsTerminal?: boolean;
  /** Standard input, up to `maxBytes` (the rest is left unread): `jobgate login` reads a token from it. */
  readonly readStdin?: (maxBytes: number) => Promise<string>;
}

export const EXIT_OK = 0;
/** A runtime failure: not found, Redis unreachable, malformed record. */
export const EXIT_FAILURE = 1;
/** Bad input: unknown role, bad selector, bad URL, bad id, missing argument, bad setting. */
export const EXIT_USAGE = 2;

export interface GlobalOptions {
  config?: string;
  redisUrl?: string;
  keyPrefix?: string;
  /** jobgate's URL: the admin commands then go through its control API (src/cli/admin.ts). */
  server?: string;
  /** Refused: the token is read from JOBGATE_TOKEN only. */
  token?: string;
}
