import { Command, Option } from 'commander';
import { InputError, NotFoundError } from '../errors.js';
import type { TokenRecord } from '../tokens/record.js';
import { ROLES } from '../tokens/record.js';
import type { TokenStore } from '../tokens/store.js';
import type { CliIo } from './context.js';
import { documentOutputOption, listOutputOption, requiredOption } from './options.js';
import type { DocumentFormat, ListFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the actions need (Redis, the settings' schema, YAML), loaded when one runs: `jobgate --help` does without. */
async function actionModules() {
  const [record, format, store, stores, output, table] = await Promise.all([
    import('../tokens/record.js'),
    import('../tokens/format.js'),
    import('../tokens/store.js'),
    import('./stores.js'),
    import('./output.js'),
    import('./table.js'),
  ]);
  return { ...record, ...format, ...store, ...stores, ...output, ...table };
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
function print(modules: Modules, tokens: TokenRecord[] | TokenRecord, format: ListFormat, io: CliIo): void {
  const views = Array.isArray(tokens) ? tokens.map((record) => modules.tokenView(record)) : modules.tokenView(tokens);
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
    .addOption(documentOutputOption())
    .action(async (name: string, options: { role: string; labelSelector: string; output: DocumentFormat }, command: Command) => {
      const { validateNewToken, withStores, settingsFor, render, tokenView } = await actionModules();
      const input = { name, role: options.role, labelSelector: options.labelSelector };
      validateNewToken(input);
      const issued = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.create(input));
      io.stdout(render(tokenView(issued.record, issued.value), options.output));
      warnValueShownOnce(issued.record.id, io);
      // stdout stays the document, for scripts and -o json; the person reads stderr.
      if (issued.record.labelSelector === '') io.stderr('jobgate: warning: this token reaches every job; scope it with -l\n');
    });
}

/** `jobgate token list`. */
function defineList(listCommand: Command, io: CliIo): void {
  listCommand
    .description('list every token (without values)')
    .addOption(listOutputOption())
    .action(async (options: { output: ListFormat }, command: Command) => {
      const modules = await actionModules();
      const records = await modules.withStores(modules.settingsFor(command, io.env), (stores) => stores.tokens.list());
      print(modules, validRecords(records, io), options.output, io);
    });
}

/** The records that read back, each one that did not said on stderr. */
function validRecords(records: ReadonlyArray<TokenRecord | Error>, io: CliIo): TokenRecord[] {
  const valid: TokenRecord[] = [];
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
      const record = await modules.withStores(modules.settingsFor(command, io.env), (stores) => findToken(modules, stores.tokens, idOrName, io));
      print(modules, record, options.output, io);
    });
}

/** `jobgate token renew`. */
function defineRenew(renewCommand: Command, io: CliIo): void {
  renewCommand
    .description('issue a new value: same id, name and selector; the old value stops working at once')
    .argument('<id>', "token's id")
    .addOption(documentOutputOption())
    .action(async (id: string, options: { output: DocumentFormat }, command: Command) => {
      const { assertTokenId, withStores, settingsFor, render, tokenView } = await actionModules();
      assertTokenId(id);
      const issued = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.renew(id));
      io.stdout(render(tokenView(issued.record, issued.value), options.output));
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
      const id = await modules.withStores(modules.settingsFor(command, io.env), async (stores) => {
        if (modules.isTokenId(idOrName)) {
          try {
            await stores.tokens.delete(idOrName);
            return idOrName;
          } catch (error) {
            if (!(error instanceof NotFoundError)) throw error;
          }
        }
        const { id } = await tokenNamed(modules, stores.tokens, idOrName, io);
        await stores.tokens.delete(id);
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
async function findToken(modules: Modules, tokens: TokenStore, idOrName: string, io: CliIo): Promise<TokenRecord> {
  if (modules.isTokenId(idOrName)) {
    const record = await tokens.find(idOrName);
    if (record) return record;
  }
  return tokenNamed(modules, tokens, idOrName, io);
}

/** At most this many ids are listed when a name is ambiguous. */
const MAX_LISTED_IDS = 20;

/**
 * The one token named `name`: NotFoundError when none is (exit 1), InputError listing the ids
 * when several are (exit 2: the id says which). Reads every token, as list does.
 */
async function tokenNamed(modules: Modules, tokens: TokenStore, name: string, io: CliIo): Promise<TokenRecord> {
  const matches = validRecords(await tokens.list(), io).filter((record) => record.name === name);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    if (modules.isTokenId(name)) throw new NotFoundError(`token ${name} not found`);
    const hint = modules.isTokenId(name.toLowerCase()) ? ' (a token id is written in lowercase)' : '';
    throw new NotFoundError(`token "${name}" not found: no token has that id or name${hint}`);
  }
  const ids = matches.slice(0, MAX_LISTED_IDS).map((record) => record.id);
  const more = matches.length > MAX_LISTED_IDS ? ` and ${matches.length - MAX_LISTED_IDS} more` : '';
  throw new InputError(`${matches.length} tokens are named "${name}": ${ids.join(', ')}${more}; give the id instead`);
}
