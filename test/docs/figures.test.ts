import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { readRepoFile } from '../helpers/documents.js';

/**
 * One source for every measured figure: `npm run bench` writes docs/benchmarks.md, and the README
 * and the other docs refer to it instead of keeping copies that go stale (the README once said
 * 1.3x-1.5x in one section and 1.22x in another).
 */

const BENCHMARKS = readRepoFile('docs/benchmarks.md');
const DOCUMENTS = ['README.md', ...readdirSync(fileURLToPath(new URL('../../docs/', import.meta.url)), { withFileTypes: true }).flatMap((entry) =>
  entry.isFile() && entry.name.endsWith('.md') && entry.name !== 'benchmarks.md' ? [`docs/${entry.name}`] : [],
)];

/**
 * Figures that are not the benchmark's, each with where it comes from. Anything else that looks
 * measured (a ratio such as 1.22x, µs, MB, req/s) must appear in docs/benchmarks.md as written.
 */
const NOT_FROM_THE_BENCHMARK: Record<string, Record<string, string>> = {
  'README.md': {
    '1.7x': 'CLI start-up against `node -e 0`, measured when the CLI was bundled (not a benchmark case)',
    '3.4x': 'the same, `jobgate token get`',
    '7.7x': 'the same, before the bundle',
    '5.2x': 'the same, before the bundle',
  },
  'docs/deploy.md': {
    '16 MB': "V8's young generation on a large host, a V8 default rather than a measurement",
    '256 MB': "Node's old-generation size for a container limit up to 1 GiB, Node's rule",
  },
};

/** The text outside fenced code blocks. */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[\s\S]*?^\1/gm, '');
}

/** Figures with a unit that a measurement has: `1.22x`, `220 µs`, `133 MB`, `4,618 req/s`. */
function figures(text: string): string[] {
  return [...prose(text).matchAll(/(?<![\w.,])(\d[\d,]*(?:\.\d+)?)(x(?![\w-])| ?(?:µs|MB|req\/s)\b)/g)].map((match) => `${match[1]}${match[2]}`);
}

/** Whether `figure` is written in docs/benchmarks.md (with or without a space before its unit). */
function inBenchmarks(figure: string): boolean {
  const [, number = '', unit = ''] = /^([\d,.]+) ?(.*)$/.exec(figure) ?? [];
  const escaped = number.replace(/[.,]/g, (character) => `\\${character}`);
  return new RegExp(`(?<![\\w.,])${escaped} ?${unit.replace('/', '\\/')}(?![\\w])`).test(BENCHMARKS);
}

/** The "wanted" column of a markdown table whose header row starts with `| target |`. */
function wantedColumn(text: string): string[] {
  const lines = text.split('\n');
  const header = lines.findIndex((line) => /^\| target \|/.test(line));
  if (header < 0) return [];
  const column = lines[header]!.split('|').findIndex((cell) => cell.trim() === 'wanted');
  const rows: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|')[column]?.trim() ?? '');
  }
  return rows;
}

t.test('every figure the README and the docs quote is the one docs/benchmarks.md holds, or says where it comes from', async (t) => {
  t.ok(DOCUMENTS.includes('docs/deploy.md') && DOCUMENTS.length > 4, `the docs are read: ${DOCUMENTS.join(', ')}`);
  for (const document of DOCUMENTS) {
    const elsewhere = NOT_FROM_THE_BENCHMARK[document] ?? {};
    for (const figure of figures(readRepoFile(document))) {
      if (figure in elsewhere) continue;
      t.ok(inBenchmarks(figure), `${document} quotes ${figure}: docs/benchmarks.md must say the same, or the document must refer to it instead`);
    }
  }
});

t.test("the README's request path refers to docs/benchmarks.md and quotes no ratio of its own", async (t) => {
  const readme = readRepoFile('README.md');
  const section = /^## What a request goes through\n[\s\S]*?(?=^## )/m.exec(readme)?.[0] ?? '';
  const paragraph = section.split('\n\n')[1] ?? '';
  t.match(paragraph, /\(docs\/benchmarks\.md\)/, 'the paragraph on the warm path links the benchmark page');
  t.same(figures(section), [], 'and states no figure');
});

t.test("the README's targets are docs/benchmarks.md's, in the same order", async (t) => {
  const readme = /^## Measured\n[\s\S]*?(?=^## )/m.exec(readRepoFile('README.md'))?.[0] ?? '';
  const benchmarkTargets = wantedColumn(BENCHMARKS);
  t.ok(benchmarkTargets.length >= 5, `docs/benchmarks.md has its targets table: ${benchmarkTargets.join(' | ')}`);
  t.same(wantedColumn(readme), benchmarkTargets);
});

t.test('the figure finder itself', async (t) => {
  t.same(figures('at 1.3x–1.5x, 220 µs, 4,618 req/s and 133 MB; 2 x 16 MB; ratio 1.22x.\n```\n9.9x\n```\n'), ['1.3x', '1.5x', '220 µs', '4,618 req/s', '133 MB', '16 MB', '1.22x']);
  t.same(figures('GHSA-7x63 and 0x1f and v1.2.3x-ray'), []);
  t.ok(inBenchmarks('1.22x') && inBenchmarks('150 MB') && !inBenchmarks('1.3x'));
});
