// Redis for the benchmark: a private redis-server per registry, filler records written in
// the documented layout (docs/redis-schema.md) through `redis-cli --pipe`, and the records
// that requests use created through jobgate's own stores.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { connectRedis, createRedis, KeySpace } from '../../dist/redis/index.js';
import { JobStore } from '../../dist/jobs/store.js';
import { TokenStore } from '../../dist/tokens/store.js';
import { freePort, tcpOpen, waitUntil } from './proc.mjs';

export const KEY_PREFIX = 'bench:';
export const JOB_ID = 'bench';
export const JOB_LABELS = { team: 'bench' };
export const TOKEN_SELECTOR = 'team=bench';

/** Starts a redis-server on a free 127.0.0.1 port, without persistence. */
export async function startRedis(processes, name) {
  const port = await freePort();
  const child = processes.start(name, 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'yes',
  ]);
  await waitUntil(name, () => tcpOpen(port));
  const url = `redis://127.0.0.1:${port}`;
  const admin = createRedis({ url, commandTimeoutMs: 60_000, reconnect: false });
  await connectRedis(admin, 5000);
  return {
    name,
    port,
    url,
    child,
    admin,
    keys: new KeySpace(KEY_PREFIX),
    tokens: new TokenStore(admin, new KeySpace(KEY_PREFIX)),
    jobs: new JobStore(admin, new KeySpace(KEY_PREFIX)),
  };
}

function resp(args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
  return out;
}

/** A lowercase UUID made from a number, so that filler ids never collide with random ones. */
function fillerTokenId(i) {
  const hex = i.toString(16).padStart(12, '0');
  return `f111e700-0000-4000-8000-${hex}`;
}

/**
 * Writes `tokens` token hashes and `jobs` job hashes, with their index sets, in the
 * documented format, through `redis-cli --pipe` (generated RESP, streamed). Filler tokens
 * have well-formed but unusable secret hashes; filler jobs point at `upstream`.
 */
export async function seedFiller(redis, { tokens, jobs, upstream }) {
  const pipe = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), '--pipe'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  pipe.stdout.setEncoding('utf8').on('data', (text) => (output += text));
  pipe.stderr.setEncoding('utf8').on('data', (text) => (output += text));
  const exited = once(pipe, 'close');
  const created = '2025-01-02T03:04:05.678Z';
  const { prefix } = redis.keys;
  let chunk = '';
  const flush = async () => {
    if (!pipe.stdin.write(chunk)) await once(pipe.stdin, 'drain');
    chunk = '';
  };
  for (let i = 0; i < tokens; i++) {
    const id = fillerTokenId(i);
    const secretHash = createHash('sha256').update(`filler-${i}`).digest('hex');
    chunk += resp([
      'HSET',
      `${prefix}token:${id}`,
      'id',
      id,
      'name',
      `filler-${i}`,
      'role',
      'read',
      'labelSelector',
      `team=t${i % 1000}`,
      'secretHash',
      secretHash,
      'version',
      '1',
      'createdAt',
      created,
      'updatedAt',
      created,
    ]);
    chunk += resp(['SADD', `${prefix}tokens`, id]);
    if (chunk.length > 1 << 20) await flush();
  }
  for (let i = 0; i < jobs; i++) {
    const id = `filler-${i}`;
    chunk += resp([
      'HSET',
      `${prefix}job:${id}`,
      'id',
      id,
      'labels',
      JSON.stringify({ team: `t${i % 1000}` }),
      'upstream',
      upstream,
      'ports',
      '{}',
      'unsecureHttp',
      'false',
      'createdAt',
      created,
      'updatedAt',
      created,
    ]);
    chunk += resp(['SADD', `${prefix}jobs`, id]);
    if (chunk.length > 1 << 20) await flush();
  }
  await flush();
  pipe.stdin.end();
  const [code] = await exited;
  const errors = /errors: (\d+), replies: (\d+)/.exec(output);
  if (code !== 0 || !errors || errors[1] !== '0') throw new Error(`redis-cli --pipe failed (exit ${code}): ${output.trim()}`);
  return Number(errors[2]);
}

/** Creates tokens through TokenStore, `concurrency` at a time; returns their values. */
export async function mintTokens(redis, count, namePrefix, concurrency = 256) {
  const values = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      values[i] = (await redis.tokens.create({ name: `${namePrefix}-${i}`, role: 'read', labelSelector: TOKEN_SELECTOR })).value;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return values;
}

/** The job that every request targets, through JobStore. */
export async function putBenchJob(redis, upstream) {
  await redis.jobs.put({ id: JOB_ID, upstream, labels: JOB_LABELS });
}

/** How many tokens and jobs a registry holds (the index sets) and Redis' memory. */
export async function describeRegistry(redis) {
  const [tokens, jobs, memory] = await Promise.all([redis.admin.scard(redis.keys.tokens), redis.admin.scard(redis.keys.jobs), redis.admin.info('memory')]);
  const used = /used_memory:(\d+)/.exec(memory);
  return { tokens, jobs, redisUsedMemoryBytes: used ? Number(used[1]) : undefined };
}
