#!/usr/bin/env node
// jobgate's benchmark (`npm run bench`; `npm run bench -- --quick` in CI).
// Throughput: starts, each in its own process on 127.0.0.1, a trivial upstream, a bare
// http-proxy-3 pass-through, a minimal undici pass-through, configurable-http-proxy, nginx +
// auth_request (when installed), and jobgate instances (a 10-token registry and a
// 1,000,000-token / 100,000-job one, each on its own redis-server). Then runs every case in short
// bursts, rotating the order each round, and prints requests/s, p50/p99 latency, ratios to the
// bare proxy and peak RSS. Start-up and idle cost: the CLI's latency beside `node -e 0`, a
// sidecar's time to ready and idle RSS, and jobgate's memory per idle WebSocket.
// Full mode writes bench/results/latest.{json,svg} and docs/benchmarks.md; --quick writes
// bench/results/quick.{json,svg,md}. See docs/benchmarks.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mintToken } from '../dist/tokens/format.js';
import { loadGenerator } from './lib/load.mjs';
import { cpuSeconds, fileLimits, freePort, httpStatus, peakRss, Processes, sleep, tcpOpen, waitUntil } from './lib/proc.mjs';
import { consoleTable, markdown, svgChart } from './lib/report.mjs';
import { describeRegistry, JOB_ID, KEY_PREFIX, mintTokens, putBenchJob, seedFiller, startRedis } from './lib/seed.mjs';
import { cliLatency, median, sidecarStarts } from './lib/startup.mjs';
import { stopClients, websocketMemory } from './lib/websockets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const here = (path) => join(root, path);

// `npm run bench -- --fleet [fleet options]`: the fleet harness (bench/fleet.mjs, issue 22) instead.
if (process.argv.includes('--fleet')) {
  const fleet = spawnSync(process.execPath, [here('bench/fleet.mjs'), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(fleet.status ?? 1);
}

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '32' },
    load: { type: 'string', default: 'auto' },
    only: { type: 'string' },
    websockets: { type: 'string' },
    'jobgate-node-options': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
const THROUGHPUT_IDS = ['upstream', 'bare', 'undici', 'chp', 'nginx', 'nginx-jobgate', 'jg-valid', 'jg-invalid', 'jg-cold', 'jg-1m'];
const OTHER_IDS = ['cli', 'sidecar', 'websocket'];
if (flags.help) {
  console.log(`usage: npm run bench [-- options]
  --quick             every case once for 2 s, smaller large registry (CI: proves the harness works)
  --fleet             the fleet harness instead (bench/fleet.mjs: N sidecars on one Redis and on a
                      Cluster; its options follow, see node bench/fleet.mjs --help)
  --rounds <n>        rounds per case (full: 5)
  --duration <s>      seconds per burst (full: 8; at most 20)
  --warmup <s>        warm-up seconds per case before the rounds (full: 2)
  --connections <n>   keep-alive connections, the same for every case (32)
  --load <tool>       auto (wrk if installed, else autocannon), wrk or autocannon
  --websockets <n>    idle WebSockets held through one jobgate (full: 10000, quick: 200; fewer when
                      jobgate's open-file limit cannot hold two descriptors each)
  --only <ids>        comma-separated ids: throughput cases (${THROUGHPUT_IDS.join(',')})
                      and start-up and memory parts (${OTHER_IDS.join(',')})
  --jobgate-node-options=<flags>
                      NODE_OPTIONS for the jobgate instances (default: the Dockerfile's ENV NODE_OPTIONS, so
                      that jobgate runs as its image does; --jobgate-node-options= runs it with Node's defaults)`);
  process.exit(0);
}

const only = flags.only?.split(',').map((id) => id.trim());
const unknown = only?.filter((id) => ![...THROUGHPUT_IDS, ...OTHER_IDS].includes(id)) ?? [];
if (unknown.length > 0) {
  console.error(`unknown --only id: ${unknown.join(', ')} (known: ${[...THROUGHPUT_IDS, ...OTHER_IDS].join(', ')})`);
  process.exit(2);
}
const selected = (id) => !only || only.includes(id);
const throughputSelected = THROUGHPUT_IDS.some(selected);

const quick = flags.quick;
const settings = {
  rounds: Number(flags.rounds ?? (quick ? 1 : 5)),
  seconds: Math.max(1, Math.min(20, Math.round(Number(flags.duration ?? (quick ? 2 : 8))))),
  warmupSeconds: Math.max(1, Math.round(Number(flags.warmup ?? (quick ? 1 : 2)))),
  connections: Number(flags.connections),
  // The large registry, and how many tokens the cold-path case cycles through. More cold
  // tokens than jobgate's token cache holds (10,000) keep every request a cache miss.
  largeTokens: quick ? 10_000 : 1_000_000,
  largeJobs: quick ? 1_000 : 100_000,
  coldTokens: quick ? 2_000 : 20_000,
  smallTokens: 10,
  // Start-up and memory (issue 17): runs of each CLI command, sidecar starts, WebSockets.
  cliRuns: quick ? 3 : 15,
  sidecarStarts: quick ? 3 : 9,
  idleMs: 3000,
  // A second reading once V8's idle-time GC has run (full runs only: 12 s more per start).
  settleMs: quick ? 0 : 15_000,
  webSockets: Number(flags.websockets ?? (quick ? 200 : 10_000)),
  webSocketWarmup: quick ? 20 : 100,
};
for (const [name, value] of Object.entries(settings)) {
  // settleMs is 0 in quick mode: no second idle reading.
  if (!Number.isFinite(value) || value < 0 || (value === 0 && name !== 'settleMs')) throw new Error(`bad --${name}: ${value}`);
}

const JOB_HOST = 'bench.job.test';
const processes = new Processes();
const tmp = mkdtempSync(join(os.tmpdir(), 'jobgate-bench-'));
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await processes.stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the benchmark's processes`);
    void cleanup().then(() => process.exit(130));
  });
}

const log = (text) => console.log(text);

/** nginx on the PATH or in the usual sbin directories: { path, version }, or undefined. */
function findNginx() {
  const candidates = [
    execFileSync('sh', ['-c', 'command -v nginx || true'], { encoding: 'utf8' }).trim(),
    '/usr/sbin/nginx',
    '/usr/local/sbin/nginx',
    '/usr/local/nginx/sbin/nginx',
  ];
  for (const path of candidates.filter(Boolean)) {
    // `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
    const run = spawnSync(path, ['-v'], { encoding: 'utf8' });
    const version = /nginx\/(\S+)/.exec(`${run.stderr ?? ''}${run.stdout ?? ''}`);
    if (run.status === 0 && version) return { path, version: version[1] };
  }
  return undefined;
}

function toolVersion(command, args, pattern) {
  try {
    const text = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(text)?.[1] ?? text.trim();
  } catch {
    return undefined;
  }
}

/** The checked-out commit, "(modified)" when src/, bin/ or the build's inputs differ from it; undefined outside git. */
function gitCommit() {
  try {
    const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const hash = git('rev-parse', '--short', 'HEAD');
    const changed = git('status', '--porcelain', '--', 'src', 'bin', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.build.json', 'Dockerfile');
    return changed ? `${hash} (modified)` : hash;
  } catch {
    return undefined;
  }
}

const packageVersion = (name) => JSON.parse(readFileSync(here(`node_modules/${name}/package.json`), 'utf8')).version;

/** NODE_OPTIONS of the jobgate image (`ENV NODE_OPTIONS=...` in the Dockerfile), '' when it sets none. */
function imageNodeOptions() {
  const match = /^ENV NODE_OPTIONS=(?:"([^"]*)"|(\S+))\s*$/m.exec(readFileSync(here('Dockerfile'), 'utf8'));
  return match ? (match[1] ?? match[2]) : '';
}
const jobgateNodeOptions = flags['jobgate-node-options'] ?? imageNodeOptions();

/** The environment of the CLI runs and of `node -e 0` beside them: the jobgate instances' NODE_OPTIONS, no JOBGATE_* of the developer's. */
function cliEnv(redisUrl) {
  const env = {};
  for (const name of Object.keys(process.env)) if (name.startsWith('JOBGATE_')) env[name] = undefined;
  return Object.assign(env, { JOBGATE_REDIS_URL: redisUrl, JOBGATE_KEY_PREFIX: KEY_PREFIX, NODE_OPTIONS: jobgateNodeOptions || undefined });
}

function jobgateEnv(redisUrl, port, adminPort) {
  const env = {};
  // The developer's own JOBGATE_* settings must not leak into the benchmark (undefined unsets).
  for (const name of Object.keys(process.env)) if (name.startsWith('JOBGATE_')) env[name] = undefined;
  return Object.assign(env, {
    JOBGATE_REDIS_URL: redisUrl,
    JOBGATE_KEY_PREFIX: KEY_PREFIX,
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_LISTEN: `127.0.0.1:${port}`,
    JOBGATE_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    JOBGATE_COOKIE_SECRET: randomBytes(24).toString('hex'),
    // Every 401 of the invalid-token case is a failure of 127.0.0.1: keep them 401s, not 429s.
    JOBGATE_AUTH_FAILURE_LIMIT: '1000000',
    // As the image runs it; undefined unsets the developer's own NODE_OPTIONS.
    NODE_OPTIONS: jobgateNodeOptions || undefined,
  });
}

/** `prefix`: a command and its arguments to run jobgate under (prlimit, to raise its open-file limit). */
async function startJobgate(name, redis, { authz = false, prefix = [] } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const authzPort = authz ? await freePort() : undefined;
  const env = jobgateEnv(redis.url, port, adminPort);
  if (authzPort) env.JOBGATE_AUTHZ_LISTEN = `127.0.0.1:${authzPort}`;
  const argv = [...prefix, process.execPath, here('bin/jobgate.js'), 'serve'];
  const child = processes.start(name, argv[0], argv.slice(1), env);
  await waitUntil(`${name} /readyz`, async () => {
    processes.assertAlive(child);
    return (await httpStatus(adminPort, {}, '/readyz')) === 200;
  });
  return { port, child, authzPort };
}

/**
 * nginx with auth_request in front of the upstream. `auth` is the decision service: the
 * minimal Node one (one HGETALL per request), or jobgate's forward-auth endpoint.
 */
async function startNginx(nginx, upstreamPort, auth) {
  const authPort = auth.port;
  const port = await freePort();
  const dir = join(tmp, auth.dir);
  mkdirSync(dir, { recursive: true });
  const conf = `# Written by bench/run.mjs
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream job { server 127.0.0.1:${upstreamPort}; keepalive 64; keepalive_requests 1000000; }
  upstream auth { server 127.0.0.1:${authPort}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port};
    location / {
      auth_request /_auth;
      proxy_pass http://job;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /_auth {
      internal;
      proxy_pass http://auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = processes.start('nginx', nginx.path, ['-p', dir, '-c', 'nginx.conf', '-e', 'stderr', '-g', 'daemon off;']);
  await waitUntil('nginx auth service', () => tcpOpen(authPort));
  await waitUntil('nginx', async () => {
    processes.assertAlive(child);
    return tcpOpen(port);
  });
  return { port, children: [child, ...auth.children] };
}

/** The CLI beside `node -e 0`, against the 10-token registry: `--help`, `token get`, `job list`. */
function measureCli(small, tokenValue) {
  const bin = here('bin/jobgate.js');
  // jgt_<36-character id>_<secret>_<check>
  const tokenId = tokenValue.slice(4, 40);
  return cliLatency({
    runs: settings.cliRuns,
    env: cliEnv(small.url),
    log,
    commands: [
      { id: 'node', label: 'node -e 0', args: ['-e', '0'] },
      { id: 'help', label: 'jobgate --help', args: [bin, '--help'], expect: /Usage: jobgate/ },
      { id: 'token-get', label: 'jobgate token get <id>', args: [bin, 'token', 'get', tokenId], expect: new RegExp(tokenId) },
      { id: 'job-list', label: 'jobgate job list', args: [bin, 'job', 'list'], expect: new RegExp(`\\b${JOB_ID}\\b`) },
    ],
  });
}

/** Sidecar starts (JOBGATE_SIDECAR_JOB / JOBGATE_SIDECAR_UPSTREAM) on the 10-token registry, whose bench job is registered. */
function measureSidecar(small, upstreamUrl, tokenValue) {
  return sidecarStarts({
    processes,
    bin: here('bin/jobgate.js'),
    starts: settings.sidecarStarts,
    idleMs: settings.idleMs,
    settleMs: settings.settleMs,
    sidecarEnv: (port, adminPort) => ({
      ...jobgateEnv(small.url, port, adminPort),
      JOBGATE_JOB_DOMAIN: undefined,
      JOBGATE_SIDECAR_JOB: JOB_ID,
      // As the job record names it, so that jobgate has no difference to warn about.
      JOBGATE_SIDECAR_UPSTREAM: `${upstreamUrl}/`,
    }),
    nodeEnv: cliEnv(small.url),
    probeHeaders: { Authorization: `Bearer ${tokenValue}` },
    log,
  });
}

/**
 * Runs jobgate under `prlimit` with its soft open-file limit raised towards `needed` when this
 * process's soft limit is lower than its hard one (raising the soft limit needs no privilege);
 * otherwise as it is. Returns the command prefix.
 */
function fileLimitPrefix(needed) {
  const limits = fileLimits(process.pid);
  if (!limits || limits.soft >= needed || limits.soft >= limits.hard) return [];
  const prlimit = execFileSync('sh', ['-c', 'command -v prlimit || true'], { encoding: 'utf8' }).trim();
  if (!prlimit) return [];
  const soft = Math.min(needed, limits.hard);
  return [prlimit, `--nofile=${soft}:${limits.hard === Infinity ? 'unlimited' : limits.hard}`];
}

/**
 * Memory per idle WebSocket: an echo upstream (bench/servers/ws-upstream.mjs) as the bench job of
 * its own registry, one jobgate in gateway mode, and a client process (bench/servers/ws-clients.mjs).
 */
async function measureWebSockets() {
  const wsPort = await freePort();
  const wsUpstream = processes.start('WebSocket echo upstream', process.execPath, [here('bench/servers/ws-upstream.mjs'), String(wsPort)]);
  const redis = await startRedis(processes, 'redis (WebSockets)');
  let jobgate;
  let clients;
  try {
    await putBenchJob(redis, `http://127.0.0.1:${wsPort}/`);
    const [token] = await mintTokens(redis, 1, 'websockets');
    await waitUntil('WebSocket echo upstream', () => tcpOpen(wsPort));
    jobgate = await startJobgate('jobgate (WebSockets)', redis, { prefix: fileLimitPrefix(settings.webSockets * 2 + 200) });
    clients = processes.start(
      'WebSocket clients',
      process.execPath,
      [here('bench/servers/ws-clients.mjs'), String(jobgate.port), JOB_HOST, token],
      {},
      { ipc: true },
    );
    return await websocketMemory({
      processes,
      jobgate,
      clients,
      requested: settings.webSockets,
      warmup: settings.webSocketWarmup,
      settleMs: quick ? 1000 : 2000,
      idleMs: settings.idleMs,
      log,
    });
  } finally {
    if (clients) await stopClients(processes, clients);
    await Promise.all([jobgate && processes.stop(jobgate.child), processes.stop(wsUpstream)]);
    redis.admin.disconnect();
    await processes.stop(redis.child);
  }
}

/**
 * The throughput cases' servers: the proxies without auth, the large registry, one jobgate per
 * case and nginx when installed. Resolves with the cases and what the report needs of the rest.
 */
async function startThroughput({ upstreamPort, upstreamUrl, upstream, small, valid }) {
  const barePort = await freePort();
  const bare = processes.start('bare http-proxy-3', process.execPath, [here('bench/servers/bare-proxy.mjs'), String(barePort), upstreamUrl]);
  const undiciPort = await freePort();
  const undici = processes.start('undici pass-through', process.execPath, [here('bench/servers/undici-proxy.mjs'), String(undiciPort), upstreamUrl]);
  const chpPort = await freePort();
  const chp = processes.start(
    'configurable-http-proxy',
    process.execPath,
    [
      here('node_modules/configurable-http-proxy/bin/configurable-http-proxy'),
      '--ip',
      '127.0.0.1',
      '--port',
      String(chpPort),
      '--api-ip',
      '127.0.0.1',
      '--api-port',
      String(await freePort()),
      '--default-target',
      upstreamUrl,
      '--log-level',
      'warn',
    ],
    { CONFIGPROXY_AUTH_TOKEN: randomBytes(16).toString('hex') },
  );

  // Registries.
  const seedStarted = performance.now();
  const large = await startRedis(processes, 'redis (large registry)');
  const jobUpstream = `${upstreamUrl}/`;
  await putBenchJob(large, jobUpstream);
  log(
    `seeding the large registry: ${settings.largeTokens.toLocaleString('en-US')} tokens, ${settings.largeJobs.toLocaleString('en-US')} jobs${quick ? ' (quick mode; the full run uses 1,000,000 and 100,000)' : ''}...`,
  );
  const minted = settings.coldTokens + 1;
  await seedFiller(large, { tokens: settings.largeTokens - minted, jobs: settings.largeJobs - 1, upstream: jobUpstream });
  const largeTokens = await mintTokens(large, minted, 'large');
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const registries = { small: await describeRegistry(small), large: await describeRegistry(large), seedSeconds };
  log(
    `  done in ${seedSeconds.toFixed(1)} s: large registry ${registries.large.tokens} tokens, ${registries.large.jobs} jobs, Redis ${(registries.large.redisUsedMemoryBytes / 1e6).toFixed(0)} MB`,
  );
  const coldFile = join(tmp, 'cold-tokens.txt');
  writeFileSync(coldFile, `${largeTokens.slice(1).join('\n')}\n`);

  // One jobgate process per case, so that no case inherits another's caches, heap or
  // failure counters: the 10-token and the large-registry warm cases differ only by Redis.
  const [jgValid, jgInvalid, jgCold, jgLarge, jgAuthz] = await Promise.all([
    startJobgate('jobgate (valid token, 10 tokens)', small),
    startJobgate('jobgate (invalid token)', small),
    startJobgate('jobgate (cold path)', large),
    startJobgate('jobgate (valid token, large registry)', large),
    startJobgate('jobgate (decision endpoint)', small, { authz: true }),
  ]);
  await waitUntil('undici pass-through', () => tcpOpen(undiciPort));
  await waitUntil('bare proxy', () => tcpOpen(barePort));
  await waitUntil('configurable-http-proxy', () => tcpOpen(chpPort));

  const nginx = findNginx();
  let nginxServer;
  let nginxJobgate;
  if (nginx) {
    const authPort = await freePort();
    const authService = processes.start('nginx auth service', process.execPath, [
      here('bench/servers/auth-service.mjs'),
      String(authPort),
      small.url,
      KEY_PREFIX,
    ]);
    nginxServer = await startNginx(nginx, upstreamPort, { port: authPort, children: [authService], dir: 'nginx' });
    nginxJobgate = await startNginx(nginx, upstreamPort, { port: jgAuthz.authzPort, children: [jgAuthz.child], dir: 'nginx-jobgate' });
  }

  const largeTokenLabel = `${settings.largeTokens / 1e6 >= 1 ? `${settings.largeTokens / 1e6}M` : `${settings.largeTokens / 1e3}k`} tokens / ${settings.largeJobs >= 1000 ? `${settings.largeJobs / 1e3}k` : settings.largeJobs} jobs`;
  const cases = [
    {
      id: 'upstream',
      group: 'baseline',
      short: 'upstream alone',
      label: 'upstream alone (no proxy)',
      description: 'the trivial Node HTTP server every proxy forwards to (200 "ok\\n"); the ceiling of any proxy in front of it',
      port: upstreamPort,
      headers: valid,
      expect: 200,
      children: [upstream],
    },
    {
      id: 'bare',
      group: 'baseline',
      short: 'bare http-proxy-3',
      label: 'bare http-proxy-3 pass-through',
      description: 'http-proxy-3 with a keep-alive agent and nothing else (bench/servers/bare-proxy.mjs): the floor cost of proxying in Node',
      port: barePort,
      headers: valid,
      expect: 200,
      children: [bare],
    },
    {
      id: 'undici',
      group: 'baseline',
      short: 'minimal undici pass-through',
      label: 'minimal undici pass-through',
      description: `a node:http server forwarding through one keep-alive undici ${packageVersion('undici')} Pool, headers and body passed on, no auth (bench/servers/undici-proxy.mjs, a dozen lines): the floor cost of forwarding as jobgate does`,
      port: undiciPort,
      headers: valid,
      expect: 200,
      children: [undici],
    },
    {
      id: 'chp',
      group: 'other',
      short: 'configurable-http-proxy',
      label: 'configurable-http-proxy (no auth)',
      description: `JupyterHub's proxy, configurable-http-proxy ${packageVersion('configurable-http-proxy')} from npm, \`--default-target\` the upstream, no auth`,
      port: chpPort,
      headers: valid,
      expect: 200,
      children: [chp],
    },
    nginxServer
      ? {
          id: 'nginx',
          group: 'other',
          short: 'nginx + auth_request',
          label: 'nginx + auth_request (Node auth, Redis per request)',
          description:
            'nginx (1 worker), `auth_request` to a minimal Node service (bench/servers/auth-service.mjs) that does one HGETALL on the 10-token Redis per request and answers 200/401',
          port: nginxServer.port,
          headers: valid,
          expect: 200,
          children: nginxServer.children,
        }
      : {
          id: 'nginx',
          group: 'other',
          short: 'nginx + auth_request',
          label: 'nginx + auth_request (Node auth, Redis per request)',
          description: 'skipped: nginx is not installed (apt-get install nginx-light)',
          skipped: 'nginx not installed: apt-get install nginx-light',
        },
    nginxJobgate
      ? {
          id: 'nginx-jobgate',
          group: 'jobgate',
          short: 'nginx + jobgate decision',
          label: 'nginx + jobgate decision endpoint (auth_request)',
          description:
            "nginx (1 worker), `auth_request` to jobgate's forward-auth endpoint (JOBGATE_AUTHZ_LISTEN), which answers 200 with the identity headers and the assertion from its warm cache; nginx forwards to the upstream",
          port: nginxJobgate.port,
          headers: valid,
          expect: 200,
          children: nginxJobgate.children,
        }
      : {
          id: 'nginx-jobgate',
          group: 'jobgate',
          short: 'nginx + jobgate decision',
          label: 'nginx + jobgate decision endpoint (auth_request)',
          description: 'skipped: nginx is not installed (apt-get install nginx-light)',
          skipped: 'nginx not installed: apt-get install nginx-light',
        },
    {
      id: 'jg-valid',
      group: 'jobgate',
      short: 'jobgate valid token (10 tokens)',
      label: 'jobgate, valid token, warm cache (10-token registry)',
      description: `jobgate, the same token on every request (label selector \`team=bench\` against the job's labels): after the first request, token and job come from the in-process cache; Redis holds ${settings.smallTokens} tokens and 1 job`,
      port: jgValid.port,
      headers: valid,
      expect: 200,
      children: [jgValid.child],
    },
    {
      id: 'jg-invalid',
      group: 'jobgate',
      short: 'jobgate invalid token (401)',
      label: 'jobgate, invalid token (401)',
      description:
        'jobgate, a well-formed token (right length and checksum) whose id is in no registry, as a deleted token looks: 401 `invalid_token`; the unknown id is cached for 1 s (negative cache), so Redis sees about one lookup a second, and an id the cache knows to be absent is refused before the token is hashed',
      port: jgInvalid.port,
      headers: { Host: JOB_HOST, Authorization: `Bearer ${mintToken().value}` },
      expect: 401,
      children: [jgInvalid.child],
    },
    {
      id: 'jg-cold',
      group: 'jobgate',
      short: 'jobgate fresh token per request',
      label: 'jobgate, fresh token per request (cold path)',
      description: `jobgate on the large registry, each request with the next of ${settings.coldTokens.toLocaleString('en-US')} valid tokens (wrk: bench/wrk.lua cycles a token file), more than the token cache holds (10,000), so every request misses the cache: one HGETALL, record validation and selector parse, SHA-256 comparison`,
      port: jgCold.port,
      headers: { Host: JOB_HOST },
      tokensFile: coldFile,
      probeHeaders: { Host: JOB_HOST, Authorization: `Bearer ${largeTokens[1]}` },
      expect: 200,
      children: [jgCold.child],
    },
    {
      id: 'jg-1m',
      group: 'jobgate',
      short: `jobgate valid token (${largeTokenLabel})`,
      label: `jobgate, valid token, warm cache (${largeTokenLabel} registry)`,
      description: `as "valid token" but on a Redis holding ${settings.largeTokens.toLocaleString('en-US')} tokens and ${settings.largeJobs.toLocaleString('en-US')} jobs (filler written by \`redis-cli --pipe\` in the documented layout; the request tokens minted through TokenStore)`,
      port: jgLarge.port,
      headers: { Host: JOB_HOST, Authorization: `Bearer ${largeTokens[0]}` },
      expect: 200,
      children: [jgLarge.child],
    },
  ].filter((c) => selected(c.id));
  return {
    cases,
    instances: { valid: jgValid, invalid: jgInvalid, cold: jgCold, largeRegistry: jgLarge, decision: jgAuthz },
    registries,
    nginx,
    largeTokenLabel,
  };
}

/**
 * The throughput runs: a warm-up that checks every status code, the rounds, then the
 * back-to-back pairs. Fills each case's `rounds`; resolves with the pairs' ratios.
 */
async function runThroughput(active, load) {
  const burst = async (c, seconds, countStatus = false) => {
    for (const child of c.children) processes.assertAlive(child);
    const pids = c.children.map((child) => child.pid);
    const cpuBefore = cpuSeconds(pids);
    const result = await load.run({ port: c.port, headers: c.headers, seconds, connections: settings.connections, tokensFile: c.tokensFile, countStatus });
    const cpuAfter = cpuSeconds(pids);
    // CPU time of the case's own processes per request: the work, whatever the machine's noise.
    result.cpuUsPerRequest =
      cpuBefore === undefined || cpuAfter === undefined || !result.requests ? undefined : ((cpuAfter - cpuBefore) / result.requests) * 1e6;
    const wrongStatus = c.expect === 200 ? result.failedStatus : result.requests - result.failedStatus;
    const after = await httpStatus(c.port, c.probeHeaders ?? c.headers);
    if (after !== c.expect) throw new Error(`${c.label}: after a burst, a request answered ${after} instead of ${c.expect}`);
    return { ...result, unexpected: wrongStatus + result.errors };
  };

  // The warm-up also counts status codes: every answer must be the expected one.
  log(`warm-up: ${settings.warmupSeconds} s per case, checking every status code`);
  for (const c of active) {
    const { statuses, requests } = await burst(c, settings.warmupSeconds, true);
    const wrong = Object.entries(statuses ?? {}).filter(([code]) => Number(code) !== c.expect);
    if (wrong.length > 0 || !requests)
      throw new Error(`${c.label}: the warm-up got ${JSON.stringify(statuses)} (${requests} requests), expected only ${c.expect}`);
  }

  for (let round = 0; round < settings.rounds; round++) {
    // Rotated every round, and reversed every other round, so that no case always follows the
    // same one (a busy case can leave work behind: GC, Redis, sockets closing).
    const rotated = active.map((_, i) => active[(i + round) % active.length]);
    const order = round % 2 === 1 ? rotated.reverse() : rotated;
    log(`round ${round + 1}/${settings.rounds}`);
    for (const c of order) {
      const result = await burst(c, settings.seconds);
      c.rounds.push(result);
      c.unexpected += result.unexpected;
      log(
        `  ${c.id.padEnd(11)} ${Math.round(result.rps).toString().padStart(7)} req/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  CPU ${result.cpuUsPerRequest?.toFixed(0) ?? '?'} us/req${result.unexpected ? `  (${result.unexpected} unexpected answers or errors)` : ''}`,
      );
      await sleep(1000);
    }
  }

  // The ratios that carry a target also run as back-to-back pairs (order alternating, A B then
  // B A), and the targets use the median of the per-pair ratios: a 5 % tolerance, or a p99, is
  // finer than this machine's noise between bursts a minute apart (two identical instances have
  // differed by 40 % in p99 over five rounds), while two bursts in a row see the same machine.
  const paired = {};
  for (const [a, b] of [
    ['jg-valid', 'bare'],
    ['jg-valid', 'undici'],
    ['jg-invalid', 'jg-valid'],
    ['jg-1m', 'jg-valid'],
  ]) {
    const first = active.find((c) => c.id === a);
    const second = active.find((c) => c.id === b);
    if (!first || !second) continue;
    const count = quick ? 2 : 8;
    const seconds = quick ? 1 : 4;
    log(`back-to-back pairs: ${a} / ${b}, ${count} pairs of ${seconds} s bursts`);
    const ratios = [];
    const p99Ratios = [];
    for (let i = 0; i < count; i++) {
      const order = i % 2 === 0 ? [first, second] : [second, first];
      const results = new Map();
      for (const c of order) results.set(c.id, await burst(c, seconds));
      ratios.push(results.get(a).rps / results.get(b).rps);
      p99Ratios.push(results.get(a).p99Ms / results.get(b).p99Ms);
    }
    const round3 = (values) => values.map((r) => Number(r.toFixed(3)));
    paired[`${a}/${b}`] = { ratios: round3(ratios), median: median(ratios), p99Ratios: round3(p99Ratios), p99Median: median(p99Ratios), seconds };
    log(`  req/s ratios ${ratios.map((r) => r.toFixed(2)).join(' ')}: median ${median(ratios).toFixed(2)}x`);
    log(`  p99 ratios   ${p99Ratios.map((r) => r.toFixed(2)).join(' ')}: median ${median(p99Ratios).toFixed(2)}x`);
  }

  return paired;
}

async function main() {
  const load = throughputSelected ? await loadGenerator(flags.load === 'auto' ? undefined : flags.load) : undefined;
  log(
    `jobgate benchmark (${quick ? 'quick' : 'full'} mode)${load ? `: load from ${load.name} ${load.version}${load.name === 'wrk' ? '' : ' (wrk not found: apt-get install wrk)'}, ${settings.connections} connections, ${settings.rounds} round(s) x ${settings.seconds} s per case` : ''}`,
  );

  // The upstream, and the 10-token registry with the bench job (the CLI's and the sidecar's too).
  const upstreamPort = await freePort();
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const upstream = processes.start('upstream', process.execPath, [here('bench/servers/upstream.mjs'), String(upstreamPort)]);
  const small = await startRedis(processes, 'redis (10 tokens)');
  await putBenchJob(small, `${upstreamUrl}/`);
  const smallTokens = await mintTokens(small, settings.smallTokens, 'small');
  await waitUntil('upstream', () => tcpOpen(upstreamPort));
  const valid = { Host: JOB_HOST, Authorization: `Bearer ${smallTokens[0]}` };

  const throughput = throughputSelected ? await startThroughput({ upstreamPort, upstreamUrl, upstream, small, valid }) : undefined;
  const cases = throughput?.cases ?? [];
  const active = cases.filter((c) => !c.skipped);
  for (const c of cases) if (c.skipped) log(`  ${c.id}: skipped (${c.skipped})`);

  for (const c of active) {
    const status = await httpStatus(c.port, c.probeHeaders ?? c.headers);
    if (status !== c.expect) throw new Error(`${c.label}: pre-flight request answered ${status}, expected ${c.expect}`);
    c.rounds = [];
    c.unexpected = 0;
  }

  // Start-up first, while the machine is quiet (the servers above sit idle). A part that fails
  // is reported with the rest, and the run then exits 1.
  const failures = {};
  const part = async (id, title, measure) => {
    if (!selected(id)) return undefined;
    log(title);
    try {
      return await measure();
    } catch (error) {
      failures[id] = error.message;
      log(`  failed: ${error.message}`);
      return undefined;
    }
  };
  const cli = await part('cli', `CLI latency: each command ${settings.cliRuns} times, interleaved with node -e 0`, () => measureCli(small, smallTokens[0]));
  const sidecar = await part(
    'sidecar',
    `sidecar start: ${settings.sidecarStarts} starts of jobgate serve (sidecar mode) to /readyz 200, idle RSS ${settings.idleMs / 1000} s later`,
    () => measureSidecar(small, upstreamUrl, smallTokens[1]),
  );

  const paired = active.length > 0 ? await runThroughput(active, load) : {};

  const websockets = await part(
    'websocket',
    `memory per idle WebSocket: ${settings.webSockets.toLocaleString('en-US')} WebSockets through one jobgate (fewer if its open-file limit cannot hold them)`,
    () => measureWebSockets(),
  );

  // Peak RSS (VmHWM) of each process, read before anything stops.
  for (const c of active) c.peakRssBytes = c.children.length === 1 ? peakRss(c.children[0].pid) : undefined;
  // Every jobgate instance but the WebSocket one, which holds thousands of connections by design.
  const jobgateRss = {};
  for (const [name, instance] of Object.entries(throughput?.instances ?? {})) jobgateRss[name] = peakRss(instance.child.pid);
  if (sidecar?.peakRssBytes !== undefined) jobgateRss.sidecar = sidecar.peakRssBytes;
  const largeTokenLabel = throughput?.largeTokenLabel ?? 'large';

  const bareCase = active.find((c) => c.id === 'bare');
  const summary = cases.map((c) => {
    if (c.skipped) return { id: c.id, group: c.group, short: c.short, label: c.label, description: c.description, skipped: c.skipped };
    const rps = median(c.rounds.map((r) => r.rps));
    const p50Ms = median(c.rounds.map((r) => r.p50Ms));
    const p99Ms = median(c.rounds.map((r) => r.p99Ms));
    const cpu = c.rounds.map((r) => r.cpuUsPerRequest).filter((v) => v !== undefined);
    return {
      id: c.id,
      group: c.group,
      short: c.short,
      label: c.label,
      description: c.description,
      expect: c.expect,
      rps,
      p50Ms,
      p99Ms,
      cpuUsPerRequest: cpu.length ? median(cpu) : undefined,
      rpsMin: Math.min(...c.rounds.map((r) => r.rps)),
      rpsMax: Math.max(...c.rounds.map((r) => r.rps)),
      unexpected: c.unexpected,
      peakRssBytes: c.peakRssBytes,
      rounds: c.rounds.map((r) => ({
        rps: Math.round(r.rps),
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        cpuUsPerRequest: r.cpuUsPerRequest === undefined ? undefined : Math.round(r.cpuUsPerRequest),
        requests: r.requests,
      })),
    };
  });
  const bareRps = bareCase ? median(bareCase.rounds.map((r) => r.rps)) : undefined;
  const bareP99 = bareCase ? median(bareCase.rounds.map((r) => r.p99Ms)) : undefined;
  for (const c of summary) {
    if (c.skipped) continue;
    c.ratioRps = bareRps ? c.rps / bareRps : undefined;
    c.ratioP99 = bareP99 ? c.p99Ms / bareP99 : undefined;
  }

  const get = (id) => summary.find((c) => c.id === id && !c.skipped);
  const target = (name, measure, wanted, test) => {
    const value = measure() || undefined;
    return value === undefined
      ? { name, measured: 'not measured', target: wanted, met: undefined }
      : { name, measured: value.text, value: value.n, target: wanted, met: test(value.n) };
  };
  const ratioOf = (a, b, field = 'rps') =>
    get(a) && get(b) ? { n: get(a)[field] / get(b)[field], text: `${(get(a)[field] / get(b)[field]).toFixed(2)}x` } : undefined;
  const maxRss = Math.max(...Object.values(jobgateRss).filter((v) => v !== undefined));
  // A ratio from the back-to-back pairs when they ran (the rounds' ratio beside it), else from the rounds.
  const pairedRatio = (a, b, field = 'rps') => {
    const pair = paired[`${a}/${b}`];
    const rounds = ratioOf(a, b, field === 'rps' ? 'rps' : 'p99Ms');
    if (!pair) return rounds;
    const [n, list] = field === 'rps' ? [pair.median, pair.ratios] : [pair.p99Median, pair.p99Ratios];
    return { n, text: `${n.toFixed(2)}x (pairs: ${list.map((r) => r.toFixed(2)).join(', ')}; rounds: ${rounds?.text ?? '—'})` };
  };
  const pairs = (name) => `${name} (median of back-to-back pairs)`;
  const targets = [
    target(
      pairs('jobgate authenticated req/s vs bare pass-through'),
      () => pairedRatio('jg-valid', 'bare'),
      '>= 0.95x',
      (n) => n >= 0.95,
    ),
    target(
      pairs('jobgate authenticated p99 vs bare pass-through'),
      () => pairedRatio('jg-valid', 'bare', 'p99'),
      '<= 1.10x',
      (n) => n <= 1.1,
    ),
    target(
      'jobgate authenticated req/s vs configurable-http-proxy',
      () => ratioOf('jg-valid', 'chp'),
      '>= 1.5x',
      (n) => n >= 1.5,
    ),
    target(
      pairs('rejections (401) req/s vs accepted'),
      () => pairedRatio('jg-invalid', 'jg-valid'),
      '>= 2x',
      (n) => n >= 2,
    ),
    target(
      pairs(`${largeTokenLabel} registry req/s vs 10-token registry`),
      () => pairedRatio('jg-1m', 'jg-valid'),
      'within 5 % (0.95x-1.05x)',
      (n) => Math.abs(n - 1) <= 0.05,
    ),
    target(
      pairs('jobgate authenticated req/s vs minimal undici pass-through'),
      () => pairedRatio('jg-valid', 'undici'),
      '>= 0.95x',
      (n) => n >= 0.95,
    ),
    target(
      pairs('jobgate authenticated p99 vs minimal undici pass-through'),
      () => pairedRatio('jg-valid', 'undici', 'p99'),
      '<= 1.10x',
      (n) => n <= 1.1,
    ),
    target(
      'jobgate peak RSS per instance (largest of its instances)',
      () =>
        Number.isFinite(maxRss)
          ? {
              n: maxRss,
              text: `${(maxRss / 1e6).toFixed(0)} MB (${Object.entries(jobgateRss)
                .map(([name, bytes]) => `${name} ${(bytes / 1e6).toFixed(0)}`)
                .join(', ')})`,
            }
          : undefined,
      '<= 96 MB',
      (n) => n <= 96e6,
    ),
    ...['help', 'token-get', 'job-list'].map((id) => {
      const command = cli?.commands.find((c) => c.id === id);
      const limit = id === 'help' ? 2.5 : 3.5;
      return target(
        `CLI \`${command?.label ?? id}\` vs \`node -e 0\` (median of ${settings.cliRuns} interleaved runs)`,
        () =>
          command && {
            n: command.ratio,
            text: `${command.ratio.toFixed(2)}x (${command.medianMs.toFixed(0)} ms vs ${cli.commands[0].medianMs.toFixed(0)} ms)`,
          },
        `<= ${limit.toFixed(1)}x`,
        (n) => n <= limit,
      );
    }),
    target(
      `sidecar start to /readyz 200 (median of ${settings.sidecarStarts} starts)`,
      () => sidecar && { n: sidecar.readyMs, text: `${sidecar.readyMs.toFixed(0)} ms (node -e 0: ${sidecar.nodeMs.toFixed(0)} ms)` },
      '<= 250 ms',
      (n) => n <= 250,
    ),
    target(
      `sidecar idle RSS, ${settings.idleMs / 1000} s after ready (median)`,
      () =>
        sidecar?.idleRssBytes !== undefined && {
          n: sidecar.idleRssBytes,
          text: `${(sidecar.idleRssBytes / 1e6).toFixed(1)} MB (idle node: ${(sidecar.nodeIdleRssBytes / 1e6).toFixed(1)} MB)`,
        },
      '<= 60 MB',
      (n) => n <= 60e6,
    ),
    target(
      `sidecar idle RSS, ${(settings.settleMs || 15_000) / 1000} s after ready, after V8's idle-time GC (median)`,
      () =>
        sidecar?.settledRssBytes !== undefined && {
          n: sidecar.settledRssBytes,
          text: `${(sidecar.settledRssBytes / 1e6).toFixed(1)} MB (idle node: ${(sidecar.nodeSettledRssBytes / 1e6).toFixed(1)} MB)`,
        },
      '<= 60 MB',
      (n) => n <= 60e6,
    ),
    target(
      `jobgate memory per idle WebSocket (RSS growth / ${websockets?.connections.toLocaleString('en-US') ?? 'N'} open)`,
      () =>
        websockets?.perConnectionBytes !== undefined && { n: websockets.perConnectionBytes, text: `${(websockets.perConnectionBytes / 1e3).toFixed(2)} KB` },
      '<= 10 KB',
      (n) => n <= 10e3,
    ),
  ];

  const cpus = os.cpus();
  const machine = {
    cpuModel: cpus[0]?.model ?? 'unknown CPU',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
  };
  machine.summary = `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}`;
  const results = {
    generatedAt: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    commit: gitCommit(),
    machine,
    tools: {
      loadGenerator: load ? { name: load.name, version: load.version } : undefined,
      redis: toolVersion('redis-server', ['--version'], /v=(\S+)/),
      nginx: throughput?.nginx?.version,
      chp: packageVersion('configurable-http-proxy'),
      httpProxy3: packageVersion('http-proxy-3'),
      undici: packageVersion('undici'),
      jobgateNodeOptions,
    },
    settings: {
      rounds: settings.rounds,
      seconds: settings.seconds,
      warmupSeconds: settings.warmupSeconds,
      connections: settings.connections,
      coldTokens: settings.coldTokens,
      cliRuns: settings.cliRuns,
      sidecarStarts: settings.sidecarStarts,
      webSockets: settings.webSockets,
    },
    registries: throughput?.registries ?? { small: await describeRegistry(small) },
    jobgatePeakRssBytes: jobgateRss,
    cases: summary,
    paired,
    cli,
    sidecar,
    websockets,
    failures: Object.keys(failures).length > 0 ? failures : undefined,
    targets,
  };

  log('');
  log(consoleTable(results));
  for (const c of summary) if (c.unexpected) log(`warning: ${c.label}: ${c.unexpected} answers other than ${c.expect} or socket errors`);

  const svg = svgChart(results);
  const outDir = here('bench/results');
  mkdirSync(outDir, { recursive: true });
  // Only a full run of every case updates latest.* and docs/benchmarks.md.
  const base = quick ? 'quick' : flags.only ? 'partial' : 'latest';
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, `${base}.svg`), `${svg}\n`);
  const docsPath = here('docs/benchmarks.md');
  const previous = existsSync(docsPath) ? readFileSync(docsPath, 'utf8') : undefined;
  const md = markdown(results, { svg, profilePath: join(outDir, 'profile.json'), previous });
  const mdPath = base === 'latest' ? docsPath : join(outDir, `${base}.md`);
  writeFileSync(mdPath, md);
  log(`\nwrote bench/results/${base}.json, bench/results/${base}.svg and ${base === 'latest' ? 'docs/benchmarks.md' : `bench/results/${base}.md`}`);
  if (Object.keys(failures).length > 0) {
    console.error(`benchmark failed: ${Object.keys(failures).join(', ')} could not be measured (see above)`);
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  console.error(`benchmark failed: ${error.stack ?? error}`);
  for (const child of processes.children) {
    if (child.stderrTail.trim()) console.error(`--- ${child.benchName} stderr (tail):\n${child.stderrTail.trim()}`);
  }
  process.exitCode = 1;
} finally {
  await cleanup();
}
