#!/usr/bin/env node
// How fast is a revocation enforced? Two `jobgate serve` processes share one private
// redis-server. For each sample: create a token, warm both caches (200), delete the
// token, and from the moment the delete command returns poll both instances until each
// answers 401. Prints the distribution (ms). Usage: node bench/revocation-latency.mjs [samples]
import { spawn } from 'node:child_process';
import { Agent } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { JobStore } from '../dist/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../dist/redis/index.js';
import { TokenStore } from '../dist/tokens/store.js';
import { freePort, httpStatus, waitUntil } from './lib/proc.mjs';

const samples = Number(process.argv[2] ?? 200);
const bin = fileURLToPath(new URL('../bin/jobgate.js', import.meta.url));
const children = [];

function start(command, args, env = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
  children.push(child);
  return child;
}

const agent = new Agent({ keepAlive: true });
const status = (port, value) => httpStatus(port, { host: 'bench.job.test', authorization: `Bearer ${value}` }, '/', agent);

/** Polls `port` until it answers 401; returns the time it did. */
async function until401(port, value) {
  for (;;) if ((await status(port, value)) === 401) return performance.now();
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

try {
  const redisPort = await freePort();
  start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const admin = createRedis({ url: redisUrl, commandTimeoutMs: 2000, reconnect: true });
  await waitUntil('Redis to answer', async () => (await connectRedis(admin, 500), true), 10_000);
  const keys = new KeySpace('bench:');
  const tokens = new TokenStore(admin, keys);
  const upstreamPort = await freePort();
  const upstream = (await import('node:http')).createServer((_req, res) => res.end('ok')).listen(upstreamPort, '127.0.0.1');
  await new JobStore(admin, keys).put({ id: 'bench', upstream: `http://127.0.0.1:${upstreamPort}` });

  const ports = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    start(process.execPath, [bin, 'serve'], {
      JOBGATE_REDIS_URL: redisUrl,
      JOBGATE_KEY_PREFIX: 'bench:',
      JOBGATE_JOB_DOMAIN: 'job.test',
      JOBGATE_LISTEN: `127.0.0.1:${port}`,
      JOBGATE_ADMIN_LISTEN: `127.0.0.1:${await freePort()}`,
      JOBGATE_CACHE_TTL_MS: '300000',
      JOBGATE_LOG_LEVEL: 'warn',
      // Every poll that sees the revocation is a failed authentication from 127.0.0.1.
      JOBGATE_AUTH_FAILURE_LIMIT: '1000000',
    });
    ports.push(port);
  }
  const probe = await tokens.create({ name: 'probe', role: 'read' });
  for (const port of ports) await waitUntil(`jobgate on ${port} to accept the probe token`, async () => (await status(port, probe.value)) === 200, 10_000);

  const latencies = [];
  for (let i = 0; i < samples; i++) {
    const { record, value } = await tokens.create({ name: `sample-${i}`, role: 'read' });
    for (const port of ports) if ((await status(port, value)) !== 200) throw new Error(`warm-up failed: ${await status(port, value)}`);
    await tokens.delete(record.id);
    const returned = performance.now();
    const enforced = await Promise.all(ports.map((port) => until401(port, value)));
    for (const at of enforced) latencies.push(at - returned);
  }
  latencies.sort((a, b) => a - b);
  const fmt = (ms) => `${ms.toFixed(2)} ms`;
  console.log(`revocation enforced on 2 jobgate instances, ${latencies.length} measurements (${samples} deletes x 2 instances)`);
  console.log(
    `  p50 ${fmt(percentile(latencies, 50))}  p90 ${fmt(percentile(latencies, 90))}  p99 ${fmt(percentile(latencies, 99))}  max ${fmt(latencies[latencies.length - 1])}`,
  );
  console.log(`  (each figure includes one HTTP round trip of the polling client; target: p99 <= 10 ms)`);
  upstream.close();
  admin.disconnect();
} finally {
  agent.destroy();
  for (const child of children) child.kill('SIGTERM');
}
