#!/usr/bin/env node
// CPU profile of jobgate on the warm path: jobgate runs under `node --cpu-prof`, gets
// `--seconds` of load with one valid (cached) token, and stops with SIGTERM so that V8
// writes the profile. Prints the top functions by self time (mapped to src/*.ts through
// dist's source maps), writes bench/results/profile.json (the summary, shown in
// docs/benchmarks.md) and bench/results/jobgate-warm.cpuprofile (open it in Chrome DevTools
// or speedscope). Usage: npm run build && node bench/profile.mjs [--seconds 10] [--top 15]
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
  },
});
const seconds = Math.max(1, Math.min(20, Math.round(Number(flags.seconds))));
const connections = Number(flags.connections);

const processes = new Processes();
const tmp = mkdtempSync(join(os.tmpdir(), 'jobgate-profile-'));
try {
  const load = await loadGenerator(flags.load === 'auto' ? undefined : flags.load);
  const upstreamPort = await freePort();
  processes.start('upstream', process.execPath, [join(root, 'bench/servers/upstream.mjs'), String(upstreamPort)]);
  const redis = await startRedis(processes, 'redis');
  await putBenchJob(redis, `http://127.0.0.1:${upstreamPort}/`);
  const [token] = await mintTokens(redis, 1, 'profile');
  await waitUntil('upstream', () => tcpOpen(upstreamPort));

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
  const spawned = performance.now();
  const jobgate = processes.start('jobgate', process.execPath, ['--cpu-prof', `--cpu-prof-dir=${tmp}`, join(root, 'bin/jobgate.js'), 'serve'], env);
  await waitUntil('jobgate /readyz', async () => {
    processes.assertAlive(jobgate);
    return (await httpStatus(adminPort, {}, '/readyz')) === 200;
  });
  const headers = { Host: 'bench.job.test', Authorization: `Bearer ${token}` };
  if ((await httpStatus(port, headers)) !== 200) throw new Error('jobgate did not accept the token');

  console.log(`profiling jobgate: ${seconds} s of ${load.name} load, ${connections} connections, valid token (warm cache)`);
  // One second first, so that the profile's window holds the JIT-compiled steady state.
  await load.run({ port, headers, seconds: 1, connections });
  const fromMs = performance.now() - spawned;
  const result = await load.run({ port, headers, seconds, connections });
  const toMs = performance.now() - spawned;
  if (result.failedStatus || result.errors) throw new Error(`unexpected answers under load: ${result.failedStatus} >= 400, ${result.errors} errors`);
  console.log(`  ${Math.round(result.rps)} req/s under the profiler, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`);
  await processes.stop(jobgate, 15_000);
  const file = readdirSync(tmp).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`jobgate wrote no profile (exit ${jobgate.exitCode ?? jobgate.signalCode}):\n${jobgate.stderrTail}`);

  const profile = JSON.parse(readFileSync(join(tmp, file), 'utf8'));
  // The profile starts with the process (give or take its bootstrap): keep the load's window.
  const summary = summarize(profile, Number(flags.top), { fromMs, toMs });
  const outDir = join(root, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  copyFileSync(join(tmp, file), join(outDir, 'jobgate-warm.cpuprofile'));
  const record = {
    generatedAt: new Date().toISOString(),
    seconds,
    connections,
    loadGenerator: `${load.name} ${load.version}`,
    rps: result.rps,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    ...summary,
  };
  writeFileSync(join(outDir, 'profile.json'), `${JSON.stringify(record, null, 2)}\n`);

  console.log(`\n${summary.totalSamples} samples in the load window, ${(summary.idleShare * 100).toFixed(1)} % idle; top ${summary.top.length} by self time:`);
  for (const entry of summary.top) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.functionName.padEnd(32)} ${entry.where}`);
  console.log('\njobgate functions by self time:');
  for (const entry of summary.topOwnSelf) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.functionName.padEnd(32)} ${entry.where}`);
  console.log('\njobgate functions by total (inclusive) time:');
  for (const entry of summary.topOwnTotal) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.functionName.padEnd(32)} ${entry.where}`);
  console.log('\nby area:');
  for (const entry of summary.byArea.slice(0, 15)) console.log(`${(entry.share * 100).toFixed(1).padStart(5)} %  ${entry.area}`);

  // Refresh docs/benchmarks.md with this profile when a full run's results are there.
  const latest = join(outDir, 'latest.json');
  if (existsSync(latest)) {
    const results = JSON.parse(readFileSync(latest, 'utf8'));
    writeFileSync(join(root, 'docs/benchmarks.md'), markdown(results, { svg: svgChart(results), profilePath: join(outDir, 'profile.json') }));
    console.log('\nwrote bench/results/profile.json, bench/results/jobgate-warm.cpuprofile and docs/benchmarks.md');
  } else {
    console.log('\nwrote bench/results/profile.json and bench/results/jobgate-warm.cpuprofile');
  }
} catch (error) {
  console.error(`profile failed: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await processes.stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
