import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import type { AuditEvent } from '../audit/event.js';
import type { Admin } from './admin.js';
import type { CliIo } from './context.js';
import { DOCUMENT_FORMATS, type DocumentFormat } from './output-format.js';
import { terminalLine } from './terminal.js';

/** What the action needs (Redis or the control API, YAML), loaded when it runs: `jobgate --help` does without. */
async function actionModules() {
  const [log, admin, output] = await Promise.all([import('../audit/log.js'), import('./with-admin.js'), import('./output.js')]);
  return { ...log, ...admin, ...output };
}
type Modules = Awaited<ReturnType<typeof actionModules>>;

/** How often `--follow` asks for new events. */
export const FOLLOW_PERIOD_MS = 1000;
/** Events asked for in one read (the API's and AuditLog's most). */
const PAGE = 1000;
const MAX_LIMIT = 1_000_000;

interface EventsOptions {
  after?: string;
  limit?: string;
  follow?: boolean;
  output: DocumentFormat;
}

/** `jobgate events`: the audit trail of token and job changes, oldest first. */
export function eventsCommand(io: CliIo): Command {
  return new Command('events')
    .description('print the audit trail (token and job changes, who made them), oldest first')
    .option('--after <id>', 'only the events after this one (an event id, such as 1733560000000-0)')
    .option('--limit <n>', 'at most this many events (default: all that are kept)')
    .option('-f, --follow', 'then keep printing new events as they happen, until interrupted (without --after: only new ones)')
    .addOption(new Option('-o, --output <format>', 'output format (with --follow, json is one object per line)').choices(DOCUMENT_FORMATS).default('yaml'))
    .action(async (options: EventsOptions, command: Command) => {
      const modules = await actionModules();
      if (options.after !== undefined) modules.assertEventId(options.after);
      const limit = parseLimit(options.limit);
      if (options.follow === true && limit !== undefined) throw new InputError('--limit does not apply with --follow, which prints every event; leave one out');
      await modules.withAdmin(command, io, (admin) =>
        options.follow === true
          ? follow(modules, admin, options.after, options.output, io)
          : printOnce(modules, admin, options.after, limit, options.output, io),
      );
    });
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text) || Number(text) > MAX_LIMIT) throw new InputError(`invalid --limit "${text}": expected a whole number from 1 to ${MAX_LIMIT}`);
  return Number(text);
}

/** The events after `after`, at most `limit` (all when undefined), as one YAML or JSON array. */
async function printOnce(
  modules: Modules,
  admin: Admin,
  after: string | undefined,
  limit: number | undefined,
  format: DocumentFormat,
  io: CliIo,
): Promise<void> {
  const events: AuditEvent[] = [];
  let cursor = after;
  while (limit === undefined || events.length < limit) {
    const page = await readPage(admin, cursor, Math.min(PAGE, limit === undefined ? PAGE : limit - events.length), io);
    if (page.cursor === cursor) break;
    events.push(...page.events);
    cursor = page.cursor;
  }
  io.stdout(modules.render(events, format));
}

/**
 * Prints the events after `after` (after the newest when undefined), then every new one, polling
 * every second, until SIGINT or SIGTERM: it then returns (exit 0). YAML continues one sequence;
 * JSON is one object per line.
 */
async function follow(modules: Modules, admin: Admin, after: string | undefined, format: DocumentFormat, io: CliIo): Promise<void> {
  const stop = stopOnSignal();
  try {
    let cursor = after ?? (await admin.lastEventId());
    while (!stop.stopped) {
      const page = await readPage(admin, cursor, PAGE, io);
      if (page.events.length > 0) {
        io.stdout(format === 'json' ? page.events.map((event) => modules.renderJsonLine(event)).join('') : modules.render(page.events, 'yaml'));
      }
      // A full page: more is waiting; read it at once.
      if (page.cursor !== cursor && page.read === PAGE) {
        cursor = page.cursor;
        continue;
      }
      cursor = page.cursor;
      await stop.sleep(FOLLOW_PERIOD_MS);
    }
  } finally {
    stop.release();
  }
}

/** One read: the events that parse (each one that does not is said on stderr), and the id to read after. */
async function readPage(
  admin: Admin,
  after: string | undefined,
  limit: number,
  io: CliIo,
): Promise<{ events: AuditEvent[]; cursor: string | undefined; read: number }> {
  const page = await admin.listEvents(after, limit);
  const events: AuditEvent[] = [];
  for (const item of page) {
    if (item instanceof Error) io.stderr(`jobgate: warning: skipped ${terminalLine(item.message)}\n`);
    else events.push(item);
  }
  return { events, cursor: lastIdOf(page) ?? after, read: page.length };
}

/** The id of a page's last entry, a malformed one included (its RecordError's key ends with the entry id). */
function lastIdOf(page: ReadonlyArray<AuditEvent | Error>): string | undefined {
  const last = page.at(-1);
  if (last === undefined) return undefined;
  if (!(last instanceof Error)) return last.id;
  const key = (last as Error & { key?: unknown }).key;
  return typeof key === 'string' ? key.slice(key.lastIndexOf(' ') + 1) : undefined;
}

/** SIGINT and SIGTERM end the follow loop at its next turn, and cut its sleep short. */
function stopOnSignal() {
  let wake: (() => void) | undefined;
  const state = {
    stopped: false,
    sleep(ms: number): Promise<void> {
      if (state.stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
    release(): void {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
  const onSignal = () => {
    state.stopped = true;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return state;
}
