#!/usr/bin/env node
// A fleet of jobgate sidecars against one Redis, and against a local three-master Redis Cluster
// (issue 22). `npm run bench -- --fleet [options]`, or `node bench/fleet.mjs [options]` after
// `npm run build`.
//
// For each topology it starts its own redis-server(s), a trivial upstream, and --real real
// `jobgate serve` sidecars (dist/); then for each size N it grows simulated instances
// (bench/lib/fleet-sim.mjs, a child process: two raw RESP connections each, speaking what a
// sidecar at rest speaks) up to N - real, and measures:
//   - at rest (--rest seconds): Redis connections (CLIENT LIST by name), Redis CPU (INFO cpu,
//     summed over nodes and the busiest node), commands/s (INFO stats, commandstats),
//     pub/sub messages delivered/s (the instances' own counts), Cluster bus messages/s, memory;
//   - revocation (--samples deletes): `jobgate token create`, both... every real instance warmed
//     (200), `jobgate token delete`, and from the moment that command returns each real instance
//     polled until it answers 401: p50/p99 of those times; and invalidation messages delivered
//     per change (every instance's count of token messages, divided by the changes).
// Writes bench/results/fleet.json and prints a table plus markdown for docs/benchmarks.md.
import { spawn, execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { CLUSTER_SLOTS_REFRESH_MS } from '../dist/redis/connect.js';
import { freePort, httpStatus, sleep, waitUntil } from './lib/proc.mjs';
import { FLEET_BEGIN, FLEET_END } from './lib/report.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin/jobgate.js');

const { values: flags } = parseArgs({
  options: {
    fleet: { type: 'boolean', default: false },
    sizes: { type: 'string', default: '100,1000,5000' },
    topologies: { type: 'string', default: 'single,cluster' },
    real: { type: 'string', default: '3' },
    samples: { type: 'string', default: '30' },
    rest: { type: 'string', default: '10' },
    legacy: { type: 'boolean', default: false },
    render: { type: 'string' },
    out: { type: 'string', default: join(root, 'bench/results/fleet.json') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log(`usage: node bench/fleet.mjs [options]   (or npm run bench -- --fleet [options])
  --sizes <list>       fleet sizes, instances in all (default 100,1000,5000)
  --topologies <list>  single, cluster or both (default single,cluster)
  --real <n>           real jobgate processes among them (default 3)
  --samples <n>        token deletes timed per size (default 30)
  --rest <s>           seconds of rest measured per size (default 10)
  --legacy             simulated instances heartbeat on the shared channel, as before issue 22
                       (every instance receives every heartbeat: n² deliveries; for comparison)
  --out <file>         JSON results (default bench/results/fleet.json)
  (FLEET_LATENCIES=1 in the environment prints every revocation time, sorted)
  --render <file>      no run: write the section of docs/benchmarks.md from a results file of a default run`);
  process.exit(0);
}
const sizes = flags.sizes.split(',').map(Number);
const realCount = Number(flags.real);
const samples = Number(flags.samples);
const restSeconds = Number(flags.rest);

const children = [];
const dir = mkdtempSync(join(os.tmpdir(), 'jobgate-fleet-'));
function start(name, command, args, env = {}) {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  children.push(child);
  return child;
}

/** A redis-server with room for a fleet's connections (maxclients, and the file limit it needs). */
async function startRedis(name, port, extra = []) {
  start(name, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '18000', ...extra]);
  const admin = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  admin.on('error', () => {});
  await waitUntil(`redis-server on ${port}`, async () => (await admin.connect().catch(() => {}), (await admin.ping()) === 'PONG'), 60_000);
  return admin;
}

async function startTopology(kind) {
  if (kind === 'single') {
    const port = await freePort();
    const admin = await startRedis('redis-single', port);
    return { kind, ports: [port], admins: [admin], env: { JOBGATE_REDIS_URL: `redis://127.0.0.1:${port}` }, prefix: 'jobgate:' };
  }
  const ports = [await freePort(), await freePort(), await freePort()];
  const admins = [];
  for (const port of ports) {
    admins.push(
      await startRedis(`redis-cluster-${port}`, port, [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '5000',
      ]),
    );
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
    stdio: 'ignore',
  });
  await waitUntil(
    'cluster_state:ok on every node',
    async () => {
      for (const admin of admins) if (!(await admin.cluster('INFO')).includes('cluster_state:ok')) return false;
      return true;
    },
    60_000,
  );
  const nodes = ports.map((port) => `127.0.0.1:${port}`).join(',');
  return { kind, ports, admins, env: { JOBGATE_REDIS_URL: 'redis://127.0.0.1', JOBGATE_REDIS_CLUSTER_NODES: nodes }, prefix: '{jobgate}:' };
}

/** The node that owns the `{jobgate}` slot (all of jobgate's keys and channels). */
async function ownerPort(topology) {
  if (topology.kind === 'single') return topology.ports[0];
  const slot = await topology.admins[0].cluster('KEYSLOT', `${topology.prefix}tokens`);
  const slots = await topology.admins[0].cluster('SLOTS');
  const range = slots.find(([from, to]) => slot >= from && slot <= to);
  return Number(range[2][1]);
}

function cli(topology, args) {
  const out = execFileSync(process.execPath, [bin, ...args], {
    env: { ...process.env, ...topology.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
const status = (port, value) => httpStatus(port, { host: 'fleet.job.test', authorization: `Bearer ${value}` }, '/', agent);

function httpText(port, path) {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    })
      .on('error', reject)
      .end();
  });
}

/** A real instance's count of invalidation messages of one kind (its /metrics). */
async function metricCount(admin, kind) {
  const { text } = await httpText(admin, '/metrics');
  return Number(new RegExp(`^jobgate_invalidation_messages_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function startReal(topology, upstreamPort, index) {
  const port = await freePort();
  const admin = await freePort();
  start(`jobgate-${topology.kind}-${index}`, process.execPath, [bin, 'serve'], {
    ...topology.env,
    JOBGATE_SIDECAR_JOB: 'fleet',
    JOBGATE_SIDECAR_UPSTREAM: `http://127.0.0.1:${upstreamPort}`,
    JOBGATE_LISTEN: `127.0.0.1:${port}`,
    JOBGATE_ADMIN_LISTEN: `127.0.0.1:${admin}`,
    // Only an invalidation message can tell a cached token's delete within the measurement.
    JOBGATE_CACHE_TTL_MS: '300000',
    JOBGATE_LOG_LEVEL: 'warn',
    // Every poll that sees the revocation is a failed authentication from 127.0.0.1.
    JOBGATE_AUTH_FAILURE_LIMIT: '1000000',
  });
  await waitUntil(`jobgate ${index} ready`, async () => (await httpText(admin, '/readyz')).status === 200, 60_000);
  return { port, admin };
}

/** INFO of every node, with the time it was read. */
async function snapshot(topology) {
  const nodes = [];
  for (const admin of topology.admins) {
    const info = parseInfo(await admin.info('everything'));
    const cluster = topology.kind === 'cluster' ? parseInfo(await admin.cluster('INFO')) : {};
    const clients = (await admin.client('LIST')).split('\n').filter(Boolean);
    const names = {};
    for (const line of clients) {
      const name = /name=(\S*)/.exec(line)?.[1] || '(none)';
      names[name] = (names[name] ?? 0) + 1;
    }
    nodes.push({ info, cluster, names });
  }
  return { at: performance.now(), nodes };
}

function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) out[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return out;
}

const cpuOf = (info) => Number(info.used_cpu_sys) + Number(info.used_cpu_user);
const callsOf = (info, field = 'calls') => {
  const calls = {};
  for (const [key, value] of Object.entries(info)) if (key.startsWith('cmdstat_')) calls[key.slice(8)] = Number(new RegExp(`${field}=(\\d+)`).exec(value)[1]);
  return calls;
};

/** Rates between two snapshots: CPU (% of one core, all nodes and busiest), commands/s, commandstats/s, bus messages/s. */
function rates(before, after) {
  const seconds = (after.at - before.at) / 1000;
  const perNodeCpu = after.nodes.map((node, i) => ((cpuOf(node.info) - cpuOf(before.nodes[i].info)) / seconds) * 100);
  const commands = {};
  // Redis's own time in each command (commandstats usec), as % of one core: what the CPU above is spent on.
  const commandCpu = {};
  let total = 0;
  let bus = 0;
  after.nodes.forEach((node, i) => {
    total += Number(node.info.total_commands_processed) - Number(before.nodes[i].info.total_commands_processed);
    const was = callsOf(before.nodes[i].info);
    for (const [name, calls] of Object.entries(callsOf(node.info))) commands[name] = (commands[name] ?? 0) + (calls - (was[name] ?? 0)) / seconds;
    const usecWas = callsOf(before.nodes[i].info, 'usec');
    for (const [name, usec] of Object.entries(callsOf(node.info, 'usec')))
      commandCpu[name] = (commandCpu[name] ?? 0) + (usec - (usecWas[name] ?? 0)) / seconds / 1e4;
    if (node.cluster.cluster_stats_messages_sent !== undefined)
      bus += Number(node.cluster.cluster_stats_messages_sent) - Number(before.nodes[i].cluster.cluster_stats_messages_sent);
  });
  for (const [name, perSecond] of Object.entries(commands)) if (perSecond < 0.5) delete commands[name];
  return {
    seconds,
    cpuPercent: perNodeCpu.reduce((a, b) => a + b, 0),
    busiestNodeCpuPercent: Math.max(...perNodeCpu),
    commandsPerSecond: total / seconds,
    commandstats: Object.fromEntries(Object.entries(commands).sort((a, b) => b[1] - a[1])),
    commandCpuPercent: Object.fromEntries(
      Object.entries(commandCpu)
        .filter(([, percent]) => percent >= 0.05)
        .sort((a, b) => b[1] - a[1]),
    ),
    busMessagesPerSecond: bus / seconds,
  };
}

function connections(snap) {
  const names = {};
  for (const node of snap.nodes) for (const [name, count] of Object.entries(node.names)) names[name] = (names[name] ?? 0) + count;
  return {
    total: snap.nodes.reduce((sum, node) => sum + Number(node.info.connected_clients), 0),
    byName: names,
    memoryBytes: snap.nodes.reduce((sum, node) => sum + Number(node.info.used_memory), 0),
    clientMemoryBytes: snap.nodes.reduce((sum, node) => sum + Number(node.info.mem_clients_normal ?? 0), 0),
  };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

class Simulator {
  constructor() {
    this.child = fork(join(root, 'bench/lib/fleet-sim.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(this.child);
  }

  async ask(message, key) {
    const reply = once(this.child, 'message');
    this.child.send(message);
    const [answer] = await reply;
    return answer[key];
  }

  grow(options) {
    return this.ask({ grow: options }, 'grown');
  }

  stats() {
    return this.ask({ stats: true }, 'stats');
  }

  stop() {
    this.child.send({ stop: true });
  }
}

/** Rest figures and revocation latency for one size; the fleet has grown to `size` already. */
async function measure(topology, reals, simulator, size) {
  const simsBefore = await simulator.stats();
  const realBeatsBefore = await Promise.all(reals.map((real) => metricCount(real.admin, 'heartbeat')));
  const before = await snapshot(topology);
  await sleep(restSeconds * 1000);
  const after = await snapshot(topology);
  const simsAfter = await simulator.stats();
  const realBeatsAfter = await Promise.all(reals.map((real) => metricCount(real.admin, 'heartbeat')));
  const rest = rates(before, after);
  const beats =
    simsAfter.heartbeat - simsBefore.heartbeat + simsAfter.foreign - simsBefore.foreign + realBeatsAfter.reduce((a, b, i) => a + b - realBeatsBefore[i], 0);
  rest.deliveriesPerSecond = beats / rest.seconds;
  rest.foreignHeartbeats = simsAfter.foreign - simsBefore.foreign;

  const tokenSims = (await simulator.stats()).token;
  const tokenReals = await Promise.all(reals.map((real) => metricCount(real.admin, 'token')));
  const latencies = [];
  // The machine's load while the deletes are timed: on a shared host, tails follow it.
  const load = os.loadavg()[0];
  for (let i = 0; i < samples; i++) {
    const created = JSON.parse(cli(topology, ['token', 'create', `fleet-${size}-${i}`, '--role', 'read', '-o', 'json']));
    for (const real of reals) await waitUntil('the new token accepted (200)', async () => (await status(real.port, created.status.value)) === 200, 30_000);
    cli(topology, ['token', 'delete', created.id]);
    const returned = performance.now();
    const enforced = await Promise.all(
      reals.map(async (real) => {
        while ((await status(real.port, created.status.value)) !== 401);
        return performance.now();
      }),
    );
    for (const at of enforced) latencies.push(at - returned);
  }
  await sleep(1000);
  const simsDone = await simulator.stats();
  const realsDone = await Promise.all(reals.map((real) => metricCount(real.admin, 'token')));
  const tokenMessages = simsDone.token - tokenSims + realsDone.reduce((a, b, i) => a + b - tokenReals[i], 0);
  latencies.sort((a, b) => a - b);
  if (process.env.FLEET_LATENCIES) console.log(`${topology.kind} N=${size} latencies (ms): ${latencies.map((ms) => ms.toFixed(1)).join(' ')}`);
  return {
    topology: topology.kind,
    instances: size,
    simulated: simsDone.instances,
    real: reals.length,
    simulatorErrors: simsDone.errors,
    connections: connections(after),
    rest,
    // Each sample is two changes: the create and the delete each publish one message.
    deliveriesPerChange: tokenMessages / (2 * samples),
    revocation: { samples: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1), load },
  };
}

async function runTopology(kind, upstreamPort) {
  const topology = await startTopology(kind);
  const owner = await ownerPort(topology);
  cli(topology, ['job', 'put', 'fleet', '--upstream', `http://127.0.0.1:${upstreamPort}`]);
  const reals = [];
  for (let i = 0; i < realCount; i++) reals.push(await startReal(topology, upstreamPort, i));
  // The real instances' own connections, before any simulated one.
  await sleep(3000);
  const alone = connections(await snapshot(topology));
  const simulator = new Simulator();
  const results = [];
  const password = undefined;
  for (const size of sizes) {
    const want = Math.max(0, size - realCount);
    const have = (await simulator.stats()).instances;
    for (let grown = have; grown < want;) {
      const step = Math.min(500, want - grown);
      grown = await simulator.grow({
        count: step,
        nodes: topology.ports,
        owner,
        cluster: kind === 'cluster',
        prefix: topology.prefix,
        password,
        refreshMs: CLUSTER_SLOTS_REFRESH_MS,
        legacy: flags.legacy,
      });
      await sleep(200);
    }
    await waitUntil(`${want} simulated instances subscribed`, async () => (await simulator.stats()).subscribed >= want, 120_000);
    for (const real of reals) await waitUntil('the real instances ready', async () => (await httpText(real.admin, '/readyz')).status === 200, 60_000);
    await sleep(3000);
    const result = await measure(topology, reals, simulator, size);
    result.realInstanceConnections = alone;
    results.push(result);
    print(result);
  }
  simulator.stop();
  for (const admin of topology.admins) admin.disconnect();
  return results;
}

const fmt = (value, digits = 1) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
function print(r) {
  const top = Object.entries(r.rest.commandstats)
    .slice(0, 5)
    .map(([name, perSecond]) => `${name} ${fmt(perSecond, 0)}/s`)
    .join(', ');
  console.log(
    `${r.topology} N=${r.instances}: connections ${r.connections.total} (${JSON.stringify(r.connections.byName)}), CPU at rest ${fmt(r.rest.cpuPercent)} % (busiest node ${fmt(r.rest.busiestNodeCpuPercent)} %), ` +
      `${fmt(r.rest.commandsPerSecond, 0)} commands/s [${top}], pub/sub deliveries ${fmt(r.rest.deliveriesPerSecond, 0)}/s, bus ${fmt(r.rest.busMessagesPerSecond, 0)}/s, ` +
      `memory ${fmt(r.connections.memoryBytes / 2 ** 20)} MiB, deliveries/change ${fmt(r.deliveriesPerChange)}, revocation p50 ${fmt(r.revocation.p50, 2)} ms p99 ${fmt(r.revocation.p99, 2)} ms (max ${fmt(r.revocation.max, 2)}, ${r.revocation.samples} samples), sim errors ${r.simulatorErrors}`,
  );
}

function markdownTable(all) {
  const lines = [
    '| Topology | Instances | Redis connections | Redis CPU at rest (all nodes / busiest) | Commands/s at rest | Pub/sub deliveries/s at rest | Cluster bus messages/s | Redis memory | Deliveries per change | Revocation p50 / p99 | Host load (1 min) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of all) {
    lines.push(
      `| ${r.topology === 'single' ? 'single Redis' : '3-master Cluster'} | ${r.instances.toLocaleString('en-US')} | ${r.connections.total.toLocaleString('en-US')} | ${fmt(r.rest.cpuPercent)} % / ${fmt(r.rest.busiestNodeCpuPercent)} % | ${fmt(r.rest.commandsPerSecond, 0)} | ${fmt(r.rest.deliveriesPerSecond, 0)} | ${r.topology === 'single' ? '–' : fmt(r.rest.busMessagesPerSecond, 0)} | ${fmt(r.connections.memoryBytes / 2 ** 20)} MiB | ${fmt(r.deliveriesPerChange)} | ${fmt(r.revocation.p50, 2)} ms / ${fmt(r.revocation.p99, 2)} ms | ${r.revocation.load === undefined ? '–' : fmt(r.revocation.load)} |`,
    );
  }
  return lines.join('\n');
}

/** The targets of issue 22, judged on this run's figures. */
function targets(all) {
  const lines = [];
  for (const r of all) {
    const where = `${r.topology === 'single' ? 'single Redis' : 'Cluster'}, ${r.instances.toLocaleString('en-US')} instances`;
    const judge = (what, value, limit, unit) =>
      `- ${where}: ${what} ${fmt(value, unit === 'ms' ? 2 : 1)} ${unit}, target ≤ ${limit} ${unit}: ${value <= limit ? 'met' : `missed by ${fmt(value - limit, unit === 'ms' ? 2 : 1)} ${unit}`}`;
    if (r.instances >= 5000) {
      lines.push(judge('Redis CPU at rest (all nodes)', r.rest.cpuPercent, 10, '%'));
      lines.push(judge('revocation p99', r.revocation.p99, 50, 'ms'));
    } else if (r.instances >= 1000) {
      lines.push(judge('revocation p99', r.revocation.p99, 20, 'ms'));
    }
  }
  return lines;
}

/** Redis's own figures at rest for each row: commandstats, calls a second. */
function commandLines(all) {
  return all.map(
    (r) =>
      `- ${r.topology === 'single' ? 'single Redis' : 'Cluster'}, ${r.instances.toLocaleString('en-US')}: ${Object.entries(r.rest.commandstats)
        .slice(0, 6)
        .map(([name, perSecond]) => `\`${name}\` ${fmt(perSecond, 0)}/s`)
        .join(', ')}; time in commands (usec, % of a core) ${Object.entries(r.rest.commandCpuPercent ?? {})
        .slice(0, 5)
        .map(([name, percent]) => `\`${name}\` ${fmt(percent)} %`)
        .join(', ')}; connections by name ${Object.entries(r.connections.byName)
        .map(([name, count]) => `\`${name}\` ${count.toLocaleString('en-US')}`)
        .join(', ')}`,
  );
}

function realConnections(all) {
  const seen = new Map();
  for (const r of all) if (!seen.has(r.topology)) seen.set(r.topology, r.realInstanceConnections);
  return [...seen].map(([topology, alone]) => {
    const jobgate = Object.entries(alone.byName).filter(([name]) => name.includes('jobgate'));
    const total = jobgate.reduce((sum, [, count]) => sum + count, 0);
    return `- ${topology === 'single' ? 'single Redis' : '3-master Cluster'}: ${fmt(total / realCount)} per real jobgate (${jobgate.map(([name, count]) => `\`${name}\` ${count}`).join(', ')}, for ${realCount} instances)`;
  });
}

/**
 * The design before issue 22 beside it, when bench/results/fleet-legacy.json holds a `--legacy` run
 * (simulated instances heartbeating on the shared channel: every one receives every heartbeat).
 */
function legacyComparison() {
  const file = join(root, 'bench/results/fleet-legacy.json');
  if (!existsSync(file)) return [];
  const { environment, results } = JSON.parse(readFileSync(file, 'utf8'));
  return [
    '',
    `Before issue 22, every heartbeat on the shared channel (\`${environment.command}\`, ${environment.date.slice(0, 10)}; the real instances`,
    'already on their own channels): deliveries grow with n², and Redis CPU with them.',
    '',
    '| Topology | Instances | Redis CPU at rest (all nodes / busiest) | Pub/sub deliveries/s at rest | Cluster bus messages/s |',
    '|---|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.topology === 'single' ? 'single Redis' : '3-master Cluster'}, shared-channel heartbeats | ${r.instances.toLocaleString('en-US')} | ${fmt(r.rest.cpuPercent)} % / ${fmt(r.rest.busiestNodeCpuPercent)} % | ${fmt(r.rest.deliveriesPerSecond, 0)} | ${fmt(r.rest.busMessagesPerSecond, 0)} |`,
    ),
  ];
}

function fleetSection(all, environment) {
  return [
    FLEET_BEGIN,
    '## Fleet: one sidecar per job (issue 22)',
    '',
    `\`${environment.command}\` on ${environment.cpus}, Node ${environment.node}, ${environment.redis.split(' ').slice(0, 3).join(' ')}, ${environment.date.slice(0, 10)}.`,
    `Each size is ${realCount} real \`jobgate serve\` sidecars plus simulated ones (bench/lib/fleet-sim.mjs: two RESP connections each,`,
    'speaking what a sidecar at rest speaks: the readiness PING every second, the job read every 5 s, and on a Cluster the',
    `heartbeat script every second instead of the PING and the slot-map refresh of two Cluster clients every ${CLUSTER_SLOTS_REFRESH_MS / 1000} s, each on a connection of its own).`,
    `At rest: ${restSeconds} s of INFO deltas, CPU summed over the nodes and for the busiest one. Deliveries per change: every`,
    "instance's count of token messages over a token create and delete. Revocation: from the moment `jobgate token delete`",
    `returns until each real instance answers 401 (${samples} deletes × ${realCount} instances; each figure includes one HTTP round trip).`,
    '',
    markdownTable(all),
    '',
    'Targets:',
    '',
    ...targets(all),
    '',
    "Redis's own figures at rest (commandstats, calls/s, summed over the nodes):",
    '',
    ...commandLines(all),
    '',
    'Connections a real jobgate holds (CLIENT LIST by name, before any simulated instance):',
    '',
    ...realConnections(all),
    ...legacyComparison(),
    FLEET_END,
  ].join('\n');
}

/** Into docs/benchmarks.md after a run of the default sizes on both topologies; else into bench/results/fleet.md. */
function writeSection(section) {
  const complete = flags.sizes === '100,1000,5000' && flags.topologies === 'single,cluster' && !flags.legacy;
  const docs = join(root, 'docs/benchmarks.md');
  if (!complete || !existsSync(docs)) {
    writeFileSync(join(root, 'bench/results/fleet.md'), `${section}\n`);
    return 'bench/results/fleet.md';
  }
  const page = readFileSync(docs, 'utf8');
  const begin = page.indexOf(FLEET_BEGIN);
  const end = page.indexOf(FLEET_END);
  const history = page.indexOf('## History');
  const next =
    begin >= 0 && end > begin
      ? page.slice(0, begin) + section + page.slice(end + FLEET_END.length)
      : history >= 0
        ? `${page.slice(0, history)}${section}\n\n${page.slice(history)}`
        : `${page.trimEnd()}\n\n${section}\n`;
  writeFileSync(docs, next);
  return 'docs/benchmarks.md';
}

if (flags.render) {
  const { environment, results } = JSON.parse(readFileSync(flags.render, 'utf8'));
  console.log(`wrote ${writeSection(fleetSection(results, environment))}`);
  process.exit(0);
}

try {
  const upstreamPort = await freePort();
  const upstream = createServer((_req, res) => res.end('ok')).listen(upstreamPort, '127.0.0.1');
  const all = [];
  for (const kind of flags.topologies.split(',')) all.push(...(await runTopology(kind, upstreamPort)));
  upstream.close();
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const environment = {
    date: new Date().toISOString(),
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model}`,
    node: process.version,
    redis: execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim(),
    command: `node bench/fleet.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  };
  writeFileSync(flags.out, `${JSON.stringify({ environment, results: all }, null, 2)}\n`);
  const section = fleetSection(all, environment);
  console.log(`\n${section}\n`);
  console.log(`results: ${flags.out} and ${writeSection(section)}; logs: ${dir}`);
} finally {
  agent.destroy();
  for (const child of children.reverse()) child.kill('SIGTERM');
}
