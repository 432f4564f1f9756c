/** `-o table`: records as aligned columns for people (scripts read YAML or JSON). */
import { JOB_ID_LABEL, type JobView } from '../jobs/record.js';
import type { TokenView } from '../tokens/record.js';
import type { CliIo } from './context.js';
import { terminalLine } from './terminal.js';

export interface Column<T> {
  readonly header: string;
  readonly cell: (row: T) => string;
}

/** What an empty cell says; a token without a selector reaches every job. */
const NONE = '<none>';
const EVERY_JOB = '<every job>';
const NEVER = '<never>';

export const TOKEN_COLUMNS: ReadonlyArray<Column<TokenView>> = [
  { header: 'ID', cell: (token) => token.id },
  { header: 'NAME', cell: (token) => token.spec.name },
  { header: 'ROLE', cell: (token) => token.spec.role },
  { header: 'SELECTOR', cell: (token) => token.spec.labelSelector || EVERY_JOB },
  { header: 'CREATED', cell: (token) => token.createdAt },
  { header: 'EXPIRES', cell: (token) => (token.spec.expiresAt === undefined ? NEVER : `${token.spec.expiresAt}${token.status.expired ? ' (expired)' : ''}`) },
  { header: 'LAST-USED', cell: (token) => token.status.lastUsedAt ?? NEVER },
];

export const JOB_COLUMNS: ReadonlyArray<Column<JobView>> = [
  { header: 'ID', cell: (job) => job.id },
  {
    header: 'LABELS',
    // jobgate/id repeats the ID column.
    cell: (job) =>
      Object.entries(job.spec.labels)
        .filter(([key]) => key !== JOB_ID_LABEL)
        .map(([key, value]) => `${key}=${value}`)
        .join(',') || NONE,
  },
  { header: 'UPSTREAM', cell: (job) => new URL(job.spec.upstream).host },
  { header: 'PORTS', cell: (job) => Object.keys(job.spec.ports).join(',') || NONE },
  { header: 'UNSECURE-HTTP', cell: (job) => String(job.spec.unsecureHttp) },
  { header: 'LAST-USED', cell: (job) => job.status?.lastUsedAt ?? NEVER },
];

/** Space between two columns. */
const GAP = '   ';

/**
 * A header line and one line per row, each column as wide as its widest cell (counted in code
 * points). Every cell is shown as terminalLine shows it: a value read from Redis stays on its line
 * and cannot move the cursor. With `colour`, the header is bold; the cells never carry escapes.
 */
export function renderTable<T>(columns: ReadonlyArray<Column<T>>, rows: readonly T[], colour: boolean): string {
  const lines = [columns.map((column) => column.header), ...rows.map((row) => columns.map((column) => terminalLine(column.cell(row))))];
  const widths = columns.map((_, i) => Math.max(...lines.map((cells) => width(cells[i]!))));
  const aligned = lines.map((cells) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)))).join(GAP));
  if (colour) aligned[0] = `\u001b[1m${aligned[0]}\u001b[0m`;
  return `${aligned.join('\n')}\n`;
}

function width(text: string): number {
  return Array.from(text).length;
}

/**
 * Whether stdout takes colour: a terminal, unless NO_COLOR is set (https://no-color.org) or the
 * terminal says it is dumb. A pipe or a file never gets an escape.
 */
export function stdoutTakesColour(io: CliIo): boolean {
  return io.stdoutIsTerminal === true && !io.env.NO_COLOR && io.env.TERM !== 'dumb';
}
