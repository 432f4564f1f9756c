import { Command, Option } from 'commander';
import { InputError, NotFoundError } from '../errors.js';
import type { TokenView } from '../tokens/record.js';
import { ROLES } from '../tokens/record.js';
import type { Admin } from './admin.js';
import type { CliIo } from './context.js';
import { documentOutputOption, listOutputOption, requiredOption } from './options.js';
import type { DocumentFormat, ListFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the actions need (Redis or the control API, YAML), loaded when one runs: `jobgate --help` does without. */
async function actionModules() {
  const [record, format, store, admin, output, table, duration] = await Promise.all([
    import('../tokens/record.js'),
    import('../tokens/format.js'),
    import('../tokens/store.js'),
    import('./with-admin.js'),
    import('./output.js'),
    import('./table.js'),
    import('./duration.js'),
  ]);
  return { ...record, ...format, ...store, ...admin, ...output, ...table, ...duration };
}
type Modules = Awaited<ReturnType<typeof actionModules>>;

/** `jobgate token ...`: app tokens, as `ovhai token` manages them. */
export function tokenCommand(io: CliIo): Command {
  const token = new Command('token').description('create, list, renew and delete app tokens');
  defineCreate(token.command('create'), io);
  defineList(token.command('list'), io);
  defineGet(token.command('get'), io);
  defineRenew(token.command('renew'), io);
  defineDelete(token.command('delete'), io);
  return token;
}

/** Tokens as YAML or JSON (a list is an array; one token, a document), or as a table. */
function print(modules: Modules, views: TokenView[] | TokenView, format: ListFormat, io: CliIo): void {
  if (format !== 'table') return io.stdout(modules.render(views, format));
  io.stdout(modules.renderTable(modules.TOKEN_COLUMNS, Array.isArray(views) ? views : [views], modules.stdoutTakesColour(io)));
}

/** Said on a terminal after a value is printed: nothing can show it again. */
function warnValueShownOnce(id: string, io: CliIo): void {
  if (io.stderrIsTerminal !== true) return;
  io.stderr(
    `jobgate: the value (status.value) is shown only once, here: keep it now; a lost value cannot be read back, only replaced by \`jobgate token renew ${id}\`\n`,
  );
}

/** `jobgate token create`. */
function defineCreate(createCommand: Command, io: CliIo): void {
  createCommand
    .description('create a token; its value is printed once, here, and cannot be read back')
    .argument('<name>', "token's name")
    .addOption(requiredOption(new Option('-r, --role <role>', 'read reaches job URLs; operator also reaches the training API').choices(ROLES)))
    .option('-l, --label-selector <selector>', 'only jobs whose labels match are reachable (Kubernetes syntax, e.g. team=a); without it, every job', '')
    .option(...EXPIRES_IN)
    .option(...EXPIRES_AT)
    .addOption(documentOutputOption())
    .action(async (name: string, options: { role: string; labelSelector: string; output: DocumentFormat } & ExpiryOptions, command: Command) => {
      const { validateNewToken, withAdmin, render, expiryOption } = await actionModules();
      const expiresAt = expiryOption(options, Date.now());
      const request = validateNewToken({ name, role: options.role, labelSelector: options.labelSelector, expiresAt });
      const issued = await withAdmin(command, io, (admin) => admin.createToken(request));
      io.stdout(render(issued, options.output));
      warnValueShownOnce(issued.id, io);
      // stdout stays the document, for scripts and -o json; the person reads stderr.
      if (issued.spec.labelSelector === '') io.stderr('jobgate: warning: this token reaches every job; scope it with -l\n');
    });
}

type ExpiryOptions = { expiresIn?: string; expiresAt?: string };
const EXPIRES_IN = ['--expires-in <duration>', 'the token stops working after this long, e.g. 30d or 12h (default: never)'] as const;
const EXPIRES_AT = ['--expires-at <time>', 'the token stops working at this RFC 3339 time, e.g. 2027-01-31T12:00:00Z'] as const;

/** `jobgate token list`. */
function defineList(listCommand: Command, io: CliIo): void {
  listCommand
    .description('list every token (without values)')
    .option('--unused-for <duration>', 'only the tokens nobody used for this long, e.g. 90d (never used counts from creation)')
    .addOption(listOutputOption())
    .action(async (options: { output: ListFormat; unusedFor?: string }, command: Command) => {
      const modules = await actionModules();
      const idleMs = options.unusedFor === undefined ? undefined : modules.parseDuration(options.unusedFor, '--unused-for');
      const tokens = validRecords(await modules.withAdmin(command, io, (admin) => admin.listTokens()), io);
      const since = Date.now() - (idleMs ?? 0);
      const shown = idleMs === undefined ? tokens : tokens.filter((token) => Date.parse(token.status.lastUsedAt ?? token.createdAt) <= since);
      print(modules, shown, options.output, io);
    });
}

/** The records that read back, each one that did not said on stderr. */
function validRecords(records: ReadonlyArray<TokenView | Error>, io: CliIo): TokenView[] {
  const valid: TokenView[] = [];
  for (const record of records) {
    if (record instanceof Error) io.stderr(`jobgate: warning: skipped ${terminalLine(record.message)}\n`);
    else valid.push(record);
  }
  return valid;
}

const ID_OR_NAME = "token's id, or its name when no other token has that name";

/** `jobgate token get`. */
function defineGet(getCommand: Command, io: CliIo): void {
  getCommand
    .description('show one token (without its value)')
    .argument('<id|name>', ID_OR_NAME)
    .addOption(listOutputOption())
    .action(async (idOrName: string, options: { output: ListFormat }, command: Command) => {
      const modules = await actionModules();
      checkIdOrName(modules, idOrName);
      const token = await modules.withAdmin(command, io, (admin) => findToken(modules, admin, idOrName, io));
      print(modules, token, options.output, io);
    });
}

/** `jobgate token renew`. */
function defineRenew(renewCommand: Command, io: CliIo): void {
  renewCommand
    .description('issue a new value: same id, name and selector; the old value stops working at once')
    .argument('<id>', "token's id")
    .option(...EXPIRES_IN)
    .option('--expires-at <time>', 'a new expiry, as an RFC 3339 time; without either option the token keeps its own')
    .addOption(documentOutputOption())
    .action(async (id: string, options: { output: DocumentFormat } & ExpiryOptions, command: Command) => {
      const { assertTokenId, withAdmin, render, expiryOption } = await actionModules();
      assertTokenId(id);
      const expiresAt = expiryOption(options, Date.now());
      const issued = await withAdmin(command, io, (admin) => admin.renewToken(id, expiresAt));
      io.stdout(render(issued, options.output));
      warnValueShownOnce(id, io);
    });
}

/** `jobgate token delete`. */
function defineDelete(deleteCommand: Command, io: CliIo): void {
  deleteCommand
    .description('delete a token; its value stops working at once')
    .argument('<id|name>', ID_OR_NAME)
    .action(async (idOrName: string, _options: unknown, command: Command) => {
      const modules = await actionModules();
      checkIdOrName(modules, idOrName);
      const id = await modules.withAdmin(command, io, async (admin) => {
        if (modules.isTokenId(idOrName)) {
          try {
            await admin.deleteToken(idOrName);
            return idOrName;
          } catch (error) {
            if (!(error instanceof NotFoundError)) throw error;
          }
        }
        const { id } = await tokenNamed(modules, admin, idOrName, io);
        await admin.deleteToken(id);
        return id;
      });
      io.stderr(`token ${id} deleted\n`);
    });
}

/** Refuses, before Redis is asked, what can be neither a token id nor a token name. */
function checkIdOrName(modules: Modules, text: string): void {
  if (modules.isTokenId(text)) return;
  const problem = modules.tokenNameProblem(text);
  if (problem) throw new InputError(`invalid token id or name "${text}": ${problem}; expected a token's id (a lowercase UUID) or its name`);
}

/** The token with id `idOrName`, else the one token named `idOrName`. */
async function findToken(modules: Modules, admin: Admin, idOrName: string, io: CliIo): Promise<TokenView> {
  if (modules.isTokenId(idOrName)) {
    const token = await admin.findToken(idOrName);
    if (token) return token;
  }
  return tokenNamed(modules, admin, idOrName, io);
}

/** At most this many ids are listed when a name is ambiguous. */
const MAX_LISTED_IDS = 20;

/**
 * The one token named `name`: NotFoundError when none is (exit 1), InputError listing the ids
 * when several are (exit 2: the id says which). Reads every token, as list does.
 */
async function tokenNamed(modules: Modules, admin: Admin, name: string, io: CliIo): Promise<TokenView> {
  const matches = validRecords(await admin.listTokens(), io).filter((token) => token.spec.name === name);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    if (modules.isTokenId(name)) throw new NotFoundError(`token ${name} not found`);
    const hint = modules.isTokenId(name.toLowerCase()) ? ' (a token id is written in lowercase)' : '';
    throw new NotFoundError(`token "${name}" not found: no token has that id or name${hint}`);
  }
  const ids = matches.slice(0, MAX_LISTED_IDS).map((token) => token.id);
  const more = matches.length > MAX_LISTED_IDS ? ` and ${matches.length - MAX_LISTED_IDS} more` : '';
  throw new InputError(`${matches.length} tokens are named "${name}": ${ids.join(', ')}${more}; give the id instead`);
}
