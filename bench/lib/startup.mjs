// What it costs to start jobgate: the CLI's latency beside `node -e 0`, and a sidecar's time
// from spawn to a ready /readyz with its idle memory beside an idle `node` (issue 17).
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { freePort, httpStatus, memoryBreakdown, peakRss, rss, sleep } from './proc.mjs';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const round2 = (ms) => Math.round(ms * 100) / 100;

/**
 * Runs `command args` to its end; resolves with { ms, code, stdout, stderr }, `ms` from just
 * before spawn to the exit of the process. `env` is merged over this process's (undefined unsets).
 */
export function timedRun(command, args, env) {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let ms;
    const started = performance.now();
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text) => (stderr += text));
    child.once('exit', () => (ms = performance.now() - started));
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms, code, stdout, stderr }));
  });
}

/**
 * CLI latency: every command of `commands` ({ id, label, args, expect }) run `runs` times, the
 * order rotated each time, after one unmeasured warm-up run of each (the OS's file cache). The
 * first command is the baseline (`node -e 0`); the others get their median's ratio to it.
 */
export async function cliLatency({ commands, runs, env, log }) {
  const times = new Map(commands.map((c) => [c.id, []]));
  const runOnce = async (c) => {
    const run = await timedRun(process.execPath, c.args, env);
    if (run.code !== 0 || (c.expect && !c.expect.test(run.stdout)))
      throw new Error(`${c.label} exited ${run.code}${c.expect ? ` (expected output matching ${c.expect})` : ''}:\n${run.stdout}${run.stderr}`.trim());
    return run.ms;
  };
  for (const c of commands) await runOnce(c);
  for (let i = 0; i < runs; i++) {
    const order = commands.map((_, k) => commands[(k + i) % commands.length]);
    for (const c of order) times.get(c.id).push(await runOnce(c));
  }
  const baseline = median(times.get(commands[0].id));
  const results = commands.map((c) => {
    const ms = times.get(c.id);
    return {
      id: c.id,
      label: c.label,
      medianMs: median(ms),
      ratio: median(ms) / baseline,
      minMs: Math.min(...ms),
      maxMs: Math.max(...ms),
      runsMs: ms.map(round2),
    };
  });
  for (const r of results)
    log(
      `  ${r.label.padEnd(28)} median ${r.medianMs.toFixed(0).padStart(5)} ms  ${r.ratio.toFixed(2)}x node -e 0  (${r.minMs.toFixed(0)}-${r.maxMs.toFixed(0)} ms)`,
    );
  return { runs, commands: results };
}

/** Polls GET /readyz on the admin port every 2 ms until it answers 200; resolves with the time. */
async function readyAt(processes, child, adminPort, started, timeoutMs = 30_000) {
  for (;;) {
    processes.assertAlive(child);
    const status = await httpStatus(adminPort, {}, '/readyz').catch(() => 0);
    if (status === 200) return performance.now();
    if (performance.now() - started > timeoutMs) throw new Error(`${child.benchName}: /readyz did not answer 200 within ${timeoutMs} ms (last: ${status})`);
    await sleep(2);
  }
}

/**
 * Sidecar starts: `starts` times, `node -e 0` (timed), then `node bin/jobgate.js serve` in sidecar
 * mode (`sidecarEnv(port, adminPort)`), timed from spawn to /readyz 200; `idleMs` later its RSS
 * (and the same for an idle `node` started beside it), then one request through it with
 * `probeHeaders` (must answer 200) and a stop. Medians over the starts.
 */
export async function sidecarStarts({ processes, bin, starts, idleMs, settleMs = 0, sidecarEnv, nodeEnv, probeHeaders, log }) {
  const runs = [];
  for (let i = 0; i < starts; i++) {
    const node = await timedRun(process.execPath, ['-e', '0'], nodeEnv);
    if (node.code !== 0) throw new Error(`node -e 0 exited ${node.code}: ${node.stderr}`);
    const port = await freePort();
    const adminPort = await freePort();
    const env = sidecarEnv(port, adminPort);
    const started = performance.now();
    const child = processes.start(`jobgate sidecar (start ${i + 1})`, process.execPath, [bin, 'serve'], env);
    const readyMs = (await readyAt(processes, child, adminPort, started)) - started;
    // An idle node beside it, measured after the same wait: what any Node process costs here.
    const idleNode = processes.start('idle node', process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], nodeEnv);
    await sleep(idleMs);
    processes.assertAlive(child);
    processes.assertAlive(idleNode);
    const run = {
      nodeMs: round2(node.ms),
      readyMs: round2(readyMs),
      idleRssBytes: rss(child.pid),
      breakdown: memoryBreakdown(child.pid),
      nodeIdleRssBytes: rss(idleNode.pid),
      nodeBreakdown: memoryBreakdown(idleNode.pid),
    };
    // V8 shrinks an idle heap on its own some seconds later (its memory reducer, after about 8 s
    // without allocation): what a sidecar that waits for traffic costs for most of its life.
    if (settleMs > idleMs) {
      await sleep(settleMs - idleMs);
      processes.assertAlive(child);
      run.settledRssBytes = rss(child.pid);
      run.nodeSettledRssBytes = rss(idleNode.pid);
    }
    const status = await httpStatus(port, probeHeaders);
    if (status !== 200) throw new Error(`${child.benchName}: a request with a valid token answered ${status}, expected 200`);
    run.peakRssBytes = peakRss(child.pid);
    await Promise.all([processes.stop(child), processes.stop(idleNode)]);
    runs.push(run);
    log(
      `  start ${i + 1}/${starts}: ready in ${run.readyMs.toFixed(0)} ms (node -e 0: ${run.nodeMs.toFixed(0)} ms), idle RSS ${mb(run.idleRssBytes)} (idle node ${mb(run.nodeIdleRssBytes)})${run.settledRssBytes === undefined ? '' : `, settled ${mb(run.settledRssBytes)} (idle node ${mb(run.nodeSettledRssBytes)})`}`,
    );
  }
  const pick = (field) => runs.map((r) => r[field]).filter((v) => v !== undefined);
  const medianOf = (field) => (pick(field).length ? median(pick(field)) : undefined);
  // The breakdown of the start whose idle RSS is the median (the lower middle one for an even count).
  const middle = (rssField, breakdownField) => {
    const sorted = runs.filter((r) => r[rssField] !== undefined).sort((a, b) => a[rssField] - b[rssField]);
    return sorted[(sorted.length - 1) >> 1]?.[breakdownField];
  };
  return {
    starts,
    idleSeconds: idleMs / 1000,
    settleSeconds: settleMs > idleMs ? settleMs / 1000 : undefined,
    settledRssBytes: medianOf('settledRssBytes'),
    nodeSettledRssBytes: medianOf('nodeSettledRssBytes'),
    readyMs: medianOf('readyMs'),
    nodeMs: medianOf('nodeMs'),
    readyRatio: medianOf('readyMs') / medianOf('nodeMs'),
    idleRssBytes: medianOf('idleRssBytes'),
    nodeIdleRssBytes: medianOf('nodeIdleRssBytes'),
    breakdown: middle('idleRssBytes', 'breakdown'),
    nodeBreakdown: middle('nodeIdleRssBytes', 'nodeBreakdown'),
    peakRssBytes: pick('peakRssBytes').length ? Math.max(...pick('peakRssBytes')) : undefined,
    runs,
  };
}

const mb = (bytes) => (bytes === undefined ? '?' : `${(bytes / 1e6).toFixed(1)} MB`);
