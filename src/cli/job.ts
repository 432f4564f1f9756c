import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import type { JobSpec } from '../jobs/store.js';
import type { CliIo } from './context.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the actions need (Redis, the settings' schema, YAML), loaded when one runs: `jobgate --help` does without. */
async function actionModules() {
  const [record, store, stores, output] = await Promise.all([
    import('../jobs/record.js'),
    import('../jobs/store.js'),
    import('./stores.js'),
    import('./output.js'),
  ]);
  return { ...record, ...store, ...stores, ...output };
}

const outputOption = () => new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('yaml');

/** Collects repeated `key=value` flags into a map; a repeated key is an error, not a silent overwrite. */
function collectPairs(flag: string) {
  return (text: string, previous: Record<string, string> = {}): Record<string, string> => {
    const equals = text.indexOf('=');
    if (equals < 1) throw new InputError(`invalid ${flag} "${text}": expected key=value`);
    const key = text.slice(0, equals);
    if (Object.hasOwn(previous, key)) throw new InputError(`${flag} "${key}" is given twice`);
    return { ...previous, [key]: text.slice(equals + 1) };
  };
}

interface PutOptions {
  upstream: string;
  port?: Record<string, string>;
  label?: Record<string, string>;
  unsecureHttp?: boolean;
  output: OutputFormat;
}

/** `jobgate job ...`: the job registry that the proxy routes and authorizes with. */
export function jobCommand(io: CliIo): Command {
  const job = new Command('job').description('register, list and remove the jobs that jobgate fronts');
  definePut(job.command('put'), io);
  defineGet(job.command('get'), io);
  defineList(job.command('list'), io);
  defineDelete(job.command('delete'), io);
  return job;
}

/** `jobgate job put`. */
function definePut(putCommand: Command, io: CliIo): void {
  putCommand
    .description('create or replace a job')
    .argument('<id>', 'job id (a DNS label): the job URL is <id>.<jobDomain>')
    .requiredOption('--upstream <url>', "upstream URL of the job's default HTTP port")
    .option('--port <port=url>', 'upstream of another port, reached as <id>-<port>.<jobDomain> (repeatable)', collectPairs('--port'))
    .option('-l, --label <key=value>', 'label of the job, matched by token selectors (repeatable)', collectPairs('--label'))
    .option('--unsecure-http', 'serve this job without any authentication', false)
    .addOption(outputOption())
    .action(async (id: string, options: PutOptions, command: Command) => {
      const { validateJobSpec, withStores, settingsFor, render, jobView } = await actionModules();
      const spec: JobSpec = {
        id,
        upstream: options.upstream,
        ports: options.port ?? {},
        labels: options.label ?? {},
        unsecureHttp: options.unsecureHttp === true,
      };
      validateJobSpec(spec);
      const record = await withStores(settingsFor(command, io.env), (stores) => stores.jobs.put(spec));
      io.stdout(render(jobView(record), options.output));
    });
}

/** `jobgate job get`. */
function defineGet(getCommand: Command, io: CliIo): void {
  getCommand
    .description('show one job')
    .argument('<id>', 'job id')
    .addOption(outputOption())
    .action(async (id: string, options: { output: OutputFormat }, command: Command) => {
      const { assertJobId, withStores, settingsFor, render, jobView } = await actionModules();
      assertJobId(id);
      const record = await withStores(settingsFor(command, io.env), (stores) => stores.jobs.get(id));
      io.stdout(render(jobView(record), options.output));
    });
}

/** `jobgate job list`. */
function defineList(listCommand: Command, io: CliIo): void {
  listCommand
    .description('list every job')
    .addOption(outputOption())
    .action(async (options: { output: OutputFormat }, command: Command) => {
      const { withStores, settingsFor, render, jobView } = await actionModules();
      const records = await withStores(settingsFor(command, io.env), (stores) => stores.jobs.list());
      const views = [];
      for (const record of records) {
        if (record instanceof Error) io.stderr(`jobgate: warning: skipped ${terminalLine(record.message)}\n`);
        else views.push(jobView(record));
      }
      io.stdout(render(views, options.output));
    });
}

/** `jobgate job delete`. */
function defineDelete(deleteCommand: Command, io: CliIo): void {
  deleteCommand
    .description('remove a job: its URLs answer 404 at once')
    .argument('<id>', 'job id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { assertJobId, withStores, settingsFor } = await actionModules();
      assertJobId(id);
      await withStores(settingsFor(command, io.env), (stores) => stores.jobs.delete(id));
      io.stderr(`job ${id} deleted\n`);
    });
}
