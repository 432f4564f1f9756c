// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per area.
// Usage as a script: node bench/lib/cpuprofile.mjs <file.cpuprofile> [top=15]
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sourceMaps = new Map();

/** dist/x.js line/column (0-based) -> src/x.ts:line through dist's source map, when there is one. */
function original(file, line, column) {
  if (!file.startsWith('dist/')) return undefined;
  if (!sourceMaps.has(file)) {
    const mapFile = `${root}${file}.map`;
    sourceMaps.set(file, existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))) : undefined);
  }
  const map = sourceMaps.get(file);
  const entry = map?.findEntry(line, column);
  if (!entry?.originalSource) return undefined;
  const source = entry.originalSource.startsWith('file://')
    ? fileURLToPath(entry.originalSource)
    : new URL(entry.originalSource, `file://${root}${file}`).pathname;
  return `${source.startsWith(root) ? source.slice(root.length) : source}:${entry.originalLine + 1}`;
}

/** A file URL or path made short: relative to the project, node_modules/<pkg>/..., or node:... */
function shortFile(url) {
  if (!url) return '';
  let path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith(root)) path = path.slice(root.length);
  return path;
}

function area(file, functionName) {
  if (!file) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (modules) return modules[1];
  if (file.startsWith('node:')) return `node:${file.slice(5).split('/')[0] === 'internal' ? file.slice(5).split('/').slice(0, 2).join('/') : file.slice(5)}`;
  const dist = /^dist\/([^/]+)/.exec(file);
  if (dist) return `jobgate ${dist[1].replace(/\.js$/, '')}`;
  return file;
}

/**
 * Self samples per function (name + file + line), as shares of all samples; `(idle)` is
 * counted in the total and reported separately. `window` ({ fromMs, toMs }, from the
 * profile's start) keeps only the samples taken in it, e.g. while the load ran.
 */
export function summarize(profile, top = 15, window = undefined) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfCount = new Map();
  let at = profile.startTime;
  let total = 0;
  let first;
  let last;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const ms = (at - profile.startTime) / 1000;
    if (window && (ms < window.fromMs || ms > window.toMs)) return;
    selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
    total++;
    first ??= at;
    last = at;
  });
  // The mean sampling interval, to turn sample counts into time.
  const intervalUs = total > 1 ? (last - first) / (total - 1) : 0;
  const functions = new Map();
  const areas = new Map();
  const describe = new Map();
  const frameOf = (id) => {
    if (!describe.has(id)) {
      const { callFrame } = byId.get(id);
      const name = callFrame.functionName || '(anonymous)';
      const file = shortFile(callFrame.url);
      // lineNumber is 0-based in the profile.
      const where = file ? (original(file, callFrame.lineNumber, callFrame.columnNumber) ?? `${file}:${callFrame.lineNumber + 1}`) : '';
      describe.set(id, { name, file, where, key: `${name}\u0000${where}` });
    }
    return describe.get(id);
  };
  let idle = 0;
  for (const [id, count] of selfCount) {
    const { name, file, where, key } = frameOf(id);
    if (name === '(idle)') idle += count;
    const entry = functions.get(key) ?? { functionName: name, where, samples: 0 };
    entry.samples += count;
    functions.set(key, entry);
    const a = area(file, name);
    areas.set(a, (areas.get(a) ?? 0) + count);
  }
  // Inclusive ("total") time of jobgate's own functions: each sample counts once for every
  // distinct function on its stack.
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map();
  for (const [id, count] of selfCount) {
    const seen = new Set();
    for (let node = id; node !== undefined; node = parent.get(node)) {
      const frame = frameOf(node);
      if (!frame.where.startsWith('src/') || seen.has(frame.key)) continue;
      seen.add(frame.key);
      const entry = inclusive.get(frame.key) ?? { functionName: frame.name, where: frame.where, samples: 0 };
      entry.samples += count;
      inclusive.set(frame.key, entry);
    }
  }
  const share = (entry) => ({ ...entry, share: entry.samples / total });
  const ranked = [...functions.values()].sort((a, b) => b.samples - a.samples);
  return {
    totalSamples: total,
    intervalUs,
    idleShare: idle / total,
    top: ranked
      .filter((entry) => entry.functionName !== '(idle)')
      .slice(0, top)
      .map(share),
    topOwnSelf: ranked
      .filter((entry) => entry.where.startsWith('src/'))
      .slice(0, top)
      .map(share),
    topOwnTotal: [...inclusive.values()]
      .sort((a, b) => b.samples - a.samples)
      .slice(0, top)
      .map(share),
    byArea: [...areas.entries()].map(([name, samples]) => ({ area: name, samples, share: samples / total })).sort((a, b) => b.samples - a.samples),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const summary = summarize(JSON.parse(readFileSync(process.argv[2], 'utf8')), Number(process.argv[3] ?? 15));
  console.log(`${summary.totalSamples} samples, ${(summary.idleShare * 100).toFixed(1)} % idle`);
  for (const entry of summary.top) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.functionName}  ${entry.where}`);
  console.log('\njobgate functions by total (inclusive) time:');
  for (const entry of summary.topOwnTotal) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.functionName}  ${entry.where}`);
  console.log('\nby area:');
  for (const entry of summary.byArea.slice(0, 15)) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.area}`);
}
