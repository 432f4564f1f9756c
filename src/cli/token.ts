import { Command, Option } from 'commander';
import { ROLES } from '../tokens/record.js';
import type { CliIo } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the actions need (Redis, the settings' schema, YAML), loaded when one runs: `jobgate --help` does without. */
async function actionModules() {
  const [record, store, stores, output] = await Promise.all([
    import('../tokens/record.js'),
    import('../tokens/store.js'),
    import('./stores.js'),
    import('./output.js'),
  ]);
  return { ...record, ...store, ...stores, ...output };
}

const outputOption = () => new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('yaml');

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

/** `jobgate token create`. */
function defineCreate(createCommand: Command, io: CliIo): void {
  createCommand
    .description('create a token; its value is printed once, here, and cannot be read back')
    .argument('<name>', "token's name")
    .addOption(new Option('-r, --role <role>', 'read reaches job URLs; operator also reaches the training API').choices(ROLES).makeOptionMandatory())
    .option('-l, --label-selector <selector>', 'only jobs whose labels match are reachable (Kubernetes syntax, e.g. team=a)', '')
    .addOption(outputOption())
    .action(async (name: string, options: { role: string; labelSelector: string; output: OutputFormat }, command: Command) => {
      const { validateNewToken, withStores, settingsFor, render, tokenView } = await actionModules();
      const input = { name, role: options.role, labelSelector: options.labelSelector };
      validateNewToken(input);
      const issued = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.create(input));
      io.stdout(render(tokenView(issued.record, issued.value), options.output));
    });
}

/** `jobgate token list`. */
function defineList(listCommand: Command, io: CliIo): void {
  listCommand
    .description('list every token (without values)')
    .addOption(outputOption())
    .action(async (options: { output: OutputFormat }, command: Command) => {
      const { withStores, settingsFor, render, tokenView } = await actionModules();
      const records = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.list());
      const views = [];
      for (const record of records) {
        if (record instanceof Error) io.stderr(`jobgate: warning: skipped ${terminalLine(record.message)}\n`);
        else views.push(tokenView(record));
      }
      io.stdout(render(views, options.output));
    });
}

/** `jobgate token get`. */
function defineGet(getCommand: Command, io: CliIo): void {
  getCommand
    .description('show one token (without its value)')
    .argument('<id>', "token's id")
    .addOption(outputOption())
    .action(async (id: string, options: { output: OutputFormat }, command: Command) => {
      const { assertTokenId, withStores, settingsFor, render, tokenView } = await actionModules();
      assertTokenId(id);
      const record = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.get(id));
      io.stdout(render(tokenView(record), options.output));
    });
}

/** `jobgate token renew`. */
function defineRenew(renewCommand: Command, io: CliIo): void {
  renewCommand
    .description('issue a new value: same id, name and selector; the old value stops working at once')
    .argument('<id>', "token's id")
    .addOption(outputOption())
    .action(async (id: string, options: { output: OutputFormat }, command: Command) => {
      const { assertTokenId, withStores, settingsFor, render, tokenView } = await actionModules();
      assertTokenId(id);
      const issued = await withStores(settingsFor(command, io.env), (stores) => stores.tokens.renew(id));
      io.stdout(render(tokenView(issued.record, issued.value), options.output));
    });
}

/** `jobgate token delete`. */
function defineDelete(deleteCommand: Command, io: CliIo): void {
  deleteCommand
    .description('delete a token; its value stops working at once')
    .argument('<id>', "token's id")
    .action(async (id: string, _options: unknown, command: Command) => {
      const { assertTokenId, withStores, settingsFor } = await actionModules();
      assertTokenId(id);
      await withStores(settingsFor(command, io.env), (stores) => stores.tokens.delete(id));
      io.stderr(`token ${id} deleted\n`);
    });
}
