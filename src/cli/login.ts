/**
 * `jobgate login <url>` and `jobgate logout`: store jobgate's URL and an operator token (see
 * src/cli/credentials.ts), so that `token`, `job` and `events` go through its control API without
 * JOBGATE_SERVER and JOBGATE_TOKEN. The token comes from JOBGATE_TOKEN or standard input, never
 * from the command line, and is checked against the server before anything is written.
 */
import { Command } from 'commander';
import { InputError } from '../errors.js';
import { tokenShape } from '../tokens/format.js';
import type { CliIo } from './context.js';
import { terminalLine } from './terminal.js';

/** The most login reads from standard input: one line holding a token. */
const MAX_INPUT = 64 * 1024;

const HOW = 'set JOBGATE_TOKEN to an operator token, or pipe it in: jobgate login <url> < token-file';

export function loginCommand(io: CliIo): Command {
  return new Command('login')
    .summary("store jobgate's URL and an operator token: token, job and events then go through its control API")
    .description(
      "check an operator token against jobgate's control API at <url> and store both in jobgate/credentials.json under $XDG_CONFIG_HOME (default ~/.config), mode 0600: token, job and events then use them (see jobgate --help for what wins over it). The token is read from JOBGATE_TOKEN, else from standard input (one line, from a pipe or a file, not a terminal), never from the command line",
    )
    .argument('<url>', "jobgate's URL, such as https://jobgate.example.com")
    .action(async (text: string) => {
      const [{ serverUrl, warnOfPlainHttp }, { writeCredentials }, { ControlClient }] = await Promise.all([
        import('./server.js'),
        import('./credentials.js'),
        import('./control-client.js'),
      ]);
      const url = serverUrl(text, 'URL');
      const fromEnv = io.env.JOBGATE_TOKEN !== undefined && io.env.JOBGATE_TOKEN !== '';
      const token = fromEnv ? io.env.JOBGATE_TOKEN!.trim() : await tokenFromInput(io);
      // The value itself is never printed: it is a credential.
      if (tokenShape(token) === undefined)
        throw new InputError(`${fromEnv ? 'JOBGATE_TOKEN' : 'standard input'} does not hold a jobgate token (jgt_...): ${HOW}`);
      warnOfPlainHttp(url, io, 'the token');
      // A refused token (401, 403) or a server that does not answer: exit 1, nothing written.
      await new ControlClient({ origin: url.origin, token }).listTokens();
      const path = writeCredentials(io.env, { server: url.origin, token });
      io.stderr(`jobgate: logged in to ${url.origin}; the server and token are stored in ${terminalLine(path)} (mode 0600)\n`);
    });
}

export function logoutCommand(io: CliIo): Command {
  return new Command('logout').description('remove the server and token that jobgate login stored').action(async () => {
    const { removeCredentials } = await import('./credentials.js');
    const { path, removed } = removeCredentials(io.env);
    io.stderr(removed ? `jobgate: logged out: removed ${terminalLine(path)}\n` : `jobgate: not logged in: there is no ${terminalLine(path)}\n`);
  });
}

/** The first line of standard input; refused when it is a terminal, where the token would show as it is typed. */
async function tokenFromInput(io: CliIo): Promise<string> {
  if (io.readStdin === undefined || io.stdinIsTerminal === true)
    throw new InputError(`jobgate login reads the token from JOBGATE_TOKEN or from a pipe, not from a terminal (it would show as typed): ${HOW}`);
  const input = await io.readStdin(MAX_INPUT);
  const line = input.split('\n', 1)[0]!.trim();
  if (line === '') throw new InputError(`no token: JOBGATE_TOKEN is unset and standard input is empty; ${HOW}`);
  return line;
}
