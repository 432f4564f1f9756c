import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import type { JobView } from '../jobs/record.js';
import type { JobSpec } from '../jobs/store.js';
import type { CliIo } from './context.js';
import { documentOutputOption, listOutputOption, requiredOption } from './options.js';
import type { DocumentFormat, ListFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the actions need (Redis or the control API, YAML), loaded when one runs: `jobgate --help` does without. */
async function actionModules() {
  const [store, admin, output, table] = await Promise.all([import('../jobs/store.js'), import('./with-admin.js'), import('./output.js'), import('./table.js')]);
  return { ...store, ...admin, ...output, ...table };
}
type Modules = Awaited<ReturnType<typeof actionModules>>;

/** Jobs as YAML or JSON (a list is an array; one job, a document), or as a table. */
function print(modules: Modules, views: JobView[] | JobView, format: ListFormat, io: CliIo): void {
  if (format !== 'table') return io.stdout(modules.render(views, format));
  io.stdout(modules.renderTable(modules.JOB_COLUMNS, Array.isArray(views) ? views : [views], modules.stdoutTakesColour(io)));
}

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
  output: DocumentFormat;
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
    .addOption(requiredOption(new Option('--upstream <url>', "upstream URL of the job's default HTTP port")))
    .option('--port <port=url>', 'upstream of another port, reached as <id>-<port>.<jobDomain> (repeatable)', collectPairs('--port'))
    .option('-l, --label <key=value>', 'label of the job, matched by token selectors (repeatable)', collectPairs('--label'))
    .option('--unsecure-http', 'serve this job without any authentication', false)
    .addOption(documentOutputOption())
    .action(async (id: string, options: PutOptions, command: Command) => {
      const { validateJobSpec, withAdmin, render } = await actionModules();
      const spec: JobSpec = {
        id,
        upstream: options.upstream,
        ports: options.port ?? {},
        labels: options.label ?? {},
        unsecureHttp: options.unsecureHttp === true,
      };
      validateJobSpec(spec);
      const job = await withAdmin(command, io, (admin) => admin.putJob(spec));
      io.stdout(render(job, options.output));
    });
}

/** `jobgate job get`. */
function defineGet(getCommand: Command, io: CliIo): void {
  getCommand
    .description('show one job')
    .argument('<id>', 'job id')
    .addOption(listOutputOption())
    .action(async (id: string, options: { output: ListFormat }, command: Command) => {
      const modules = await actionModules();
      modules.assertJobId(id);
      const job = await modules.withAdmin(command, io, (admin) => admin.getJob(id));
      print(modules, job, options.output, io);
    });
}

/** `jobgate job list`. */
function defineList(listCommand: Command, io: CliIo): void {
  listCommand
    .description('list every job')
    .addOption(listOutputOption())
    .action(async (options: { output: ListFormat }, command: Command) => {
      const modules = await actionModules();
      const records = await modules.withAdmin(command, io, (admin) => admin.listJobs());
      const valid: JobView[] = [];
      for (const record of records) {
        if (record instanceof Error) io.stderr(`jobgate: warning: skipped ${terminalLine(record.message)}\n`);
        else valid.push(record);
      }
      print(modules, valid, options.output, io);
    });
}

/** `jobgate job delete`. */
function defineDelete(deleteCommand: Command, io: CliIo): void {
  deleteCommand
    .description('remove a job: its URLs answer 404 at once')
    .argument('<id>', 'job id')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { assertJobId, withAdmin } = await actionModules();
      assertJobId(id);
      await withAdmin(command, io, (admin) => admin.deleteJob(id));
      io.stderr(`job ${id} deleted\n`);
    });
}
