#!/usr/bin/env node
// CPU profile of jobgate on the warm path, next to the bare http-proxy-3 pass-through.
// Each runs under `node --cpu-prof`, gets `--seconds` of load with one valid (cached) token
// and stops with SIGTERM so that V8 writes the profile. Prints the top functions by self
// time (mapped to src/*.ts through dist's source maps) and the CPU per request by area for
// both, writes bench/results/profile.json (shown in docs/benchmarks.md, which is refreshed
// when a full run's results are there) and bench/results/{jobgate-warm,bare}.cpuprofile (open
// them in Chrome DevTools or speedscope).
// Usage: npm run build && node bench/profile.mjs [--seconds 10] [--top 15] [--connections 32] [--no-bare]
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarize } from './lib/cpuprofile.mjs';
import { loadGenerator } from './lib/load.mjs';
import { freePort, httpStatus, Processes, tcpOpen, waitUntil } from './lib/proc.mjs';
import { markdown, svgChart } from './lib/report.mjs';
import { KEY_PREFIX, mintTokens, putBenchJob, startRedis } from './lib/seed.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    top: { type: 'string', default: '15' },
    connections: { type: 'string', default: '32' },
    load: { type: 'string', default: 'auto' },
    'no-bare': { type: 'boolean', default: false },
  },
});
const seconds = Math.max(1, Math.min(20, Math.round(Number(flags.seconds))));
const connections = Number(flags.connections);
const top = Number(flags.top);
const outDir = join(root, 'bench/results');

const processes = new Processes();
const tmp = mkdtempSync(join(os.tmpdir(), 'jobgate-profile-'));

/** Starts `kind` (jobgate or bare) under --cpu-prof, loads it, stops it, summarises the profile. */
async function profileOne(kind, { load, upstreamPort, redis, token }) {
  const dir = join(tmp, kind);
  mkdirSync(dir);
  const port = await freePort();
  const adminPort = await freePort();
  const env = {};
  for (const name of Object.keys(process.env)) if (name.startsWith('JOBGATE_')) env[name] = undefined;
  Object.assign(env, {
    JOBGATE_REDIS_URL: redis.url,
    JOBGATE_KEY_PREFIX: KEY_PREFIX,
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_LISTEN: `127.0.0.1:${port}`,
    JOBGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    JOBGATE_COOKIE_SECRET: 'x'.repeat(48),
  });
  const prof = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const spawned = performance.now();
  const child =
    kind === 'bare'
      ? processes.start('bare http-proxy-3', process.execPath, [
          ...prof,
          join(root, 'bench/servers/bare-proxy.mjs'),
          String(port),
          `http://127.0.0.1:${upstreamPort}`,
        ])
      : processes.start('jobgate', process.execPath, [...prof, join(root, 'bin/jobgate.js'), 'serve'], env);
  await waitUntil(`${child.benchName} ready`, async () => {
    processes.assertAlive(child);
    return kind === 'bare' ? tcpOpen(port) : (await httpStatus(adminPort, {}, '/readyz')) === 200;
  });
  const headers = { Host: 'bench.job.test', Authorization: `Bearer ${token}` };
  if ((await httpStatus(port, headers)) !== 200) throw new Error(`${child.benchName} did not answer 200`);

  console.log(
    `profiling ${child.benchName}: ${seconds} s of ${load.name} load, ${connections} connections${kind === 'jobgate' ? ', valid token (warm cache)' : ''}`,
  );
  // One second first, so that the profile's window holds the JIT-compiled steady state.
  await load.run({ port, headers, seconds: 1, connections });
  const fromMs = performance.now() - spawned;
  const result = await load.run({ port, headers, seconds, connections });
  const toMs = performance.now() - spawned;
  if (result.failedStatus || result.errors) throw new Error(`unexpected answers under load: ${result.failedStatus} >= 400, ${result.errors} errors`);
  await processes.stop(child, 15_000);
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`${child.benchName} wrote no profile (exit ${child.exitCode ?? child.signalCode}):\n${child.stderrTail}`);
  copyFileSync(join(dir, file), join(outDir, `${kind === 'bare' ? 'bare' : 'jobgate-warm'}.cpuprofile`));

  // The profile starts with the process (give or take its bootstrap): keep the load's window.
  const summary = summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')), top, { fromMs, toMs });
  const usPerRequest = (samples) => (samples * summary.intervalUs) / result.requests;
  for (const list of [summary.top, summary.topOwnSelf, summary.topOwnTotal, summary.byArea])
    for (const entry of list) entry.usPerRequest = usPerRequest(entry.samples);
  return {
    target: child.benchName,
    requests: result.requests,
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    busyUsPerRequest: usPerRequest(summary.totalSamples * (1 - summary.idleShare)),
    ...summary,
  };
}

function print(record) {
  const line = (entry) =>
    `${(entry.share * 100).toFixed(1).padStart(5)} % ${entry.usPerRequest.toFixed(1).padStart(6)} us/req  ${entry.functionName.padEnd(30)} ${entry.where}`;
  console.log(
    `\n${record.target}: ${Math.round(record.rps)} req/s under the profiler, ${record.totalSamples} samples in the load window (${record.requests} requests), ${(record.idleShare * 100).toFixed(1)} % idle, ${record.busyUsPerRequest.toFixed(0)} us of main-thread CPU per request`,
  );
  console.log(`top ${record.top.length} by self time:`);
  for (const entry of record.top) console.log(line(entry));
  if (record.topOwnSelf.length) {
    console.log('\njobgate functions by self time:');
    for (const entry of record.topOwnSelf) console.log(line(entry));
    console.log('\njobgate functions by total (inclusive) time:');
    for (const entry of record.topOwnTotal) console.log(line(entry));
  }
}

try {
  const load = await loadGenerator(flags.load === 'auto' ? undefined : flags.load);
  mkdirSync(outDir, { recursive: true });
  const upstreamPort = await freePort();
  processes.start('upstream', process.execPath, [join(root, 'bench/servers/upstream.mjs'), String(upstreamPort)]);
  const redis = await startRedis(processes, 'redis');
  await putBenchJob(redis, `http://127.0.0.1:${upstreamPort}/`);
  const [token] = await mintTokens(redis, 1, 'profile');
  await waitUntil('upstream', () => tcpOpen(upstreamPort));

  const context = { load, upstreamPort, redis, token };
  const jobgate = await profileOne('jobgate', context);
  print(jobgate);
  const bare = flags['no-bare'] ? undefined : await profileOne('bare', context);
  if (bare) print(bare);

  const record = { generatedAt: new Date().toISOString(), seconds, connections, loadGenerator: `${load.name} ${load.version}`, ...jobgate };
  if (bare) {
    record.bare = {
      rps: bare.rps,
      requests: bare.requests,
      busyUsPerRequest: bare.busyUsPerRequest,
      idleShare: bare.idleShare,
      byArea: bare.byArea,
      top: bare.top,
    };
    const bareAreas = new Map(bare.byArea.map((entry) => [entry.area, entry.usPerRequest]));
    console.log('\nmain-thread CPU per request by area (us): jobgate, bare, difference');
    for (const entry of jobgate.byArea.slice(0, 20)) {
      const other = bareAreas.get(entry.area) ?? 0;
      console.log(
        `${entry.area.padEnd(36)} ${entry.usPerRequest.toFixed(1).padStart(7)} ${other.toFixed(1).padStart(7)} ${(entry.usPerRequest - other).toFixed(1).padStart(8)}`,
      );
    }
  }
  writeFileSync(join(outDir, 'profile.json'), `${JSON.stringify(record, null, 2)}\n`);

  // Refresh docs/benchmarks.md with this profile when a full run's results are there.
  const latest = join(outDir, 'latest.json');
  if (existsSync(latest)) {
    const results = JSON.parse(readFileSync(latest, 'utf8'));
    const docsPath = join(root, 'docs/benchmarks.md');
    const previous = existsSync(docsPath) ? readFileSync(docsPath, 'utf8') : undefined;
    writeFileSync(docsPath, markdown(results, { svg: svgChart(results), profilePath: join(outDir, 'profile.json'), previous }));
    console.log('\nwrote bench/results/profile.json, bench/results/*.cpuprofile and docs/benchmarks.md');
  } else {
    console.log('\nwrote bench/results/profile.json and bench/results/*.cpuprofile');
  }
} catch (error) {
  console.error(`profile failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await processes.stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
