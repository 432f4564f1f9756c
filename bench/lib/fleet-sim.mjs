// Simulated jobgate instances for the fleet harness (bench/fleet.mjs), run in a child process of
// their own. Each speaks to Redis what a jobgate sidecar at rest speaks, through raw RESP sockets:
//   - a commands connection (CLIENT SETNAME jobgate-commands): the readiness PING every second (not
//     on a Cluster, where the heartbeat's answer stands for it), the sidecar's job read every cache
//     TTL (5 s), and on a Cluster the heartbeat script every second
//     (EVALSHA on the node that owns the `{jobgate}` slot, as ioredis routes it);
//   - on a Cluster, the slot map refresh of jobgate's two Cluster clients: ioredis opens a connection
//     of its own for each CLUSTER SLOTS and closes it, every CLUSTER_SLOTS_REFRESH_MS per client
//     (`refreshMs`, given by the parent), on a random node;
//   - a subscriber connection (CLIENT SETNAME jobgate-subscriber): SUBSCRIBE to the shared
//     invalidation channel and, on a Cluster, to the instance's own heartbeat channel, on a random
//     node as ioredis's Cluster subscriber does.
// It counts what it receives: token/job invalidations and its own heartbeats.
// Messages from the parent: { grow: { count, nodes, owner, cluster, prefix, password? } }, { stats: true }, { stop: true }.
import { randomBytes, createHash } from 'node:crypto';
import { connect } from 'node:net';

const HEARTBEAT_SCRIPT = `
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`;
const HEARTBEAT_SHA = createHash('sha1').update(HEARTBEAT_SCRIPT).digest('hex');

function encode(args) {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`;
  return out;
}

/** A minimal streaming RESP2 parser: calls onValue for every complete top-level value. */
class Parser {
  constructor(onValue) {
    this.onValue = onValue;
    this.buffer = Buffer.alloc(0);
  }

  push(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = this.parse(offset);
      if (parsed === undefined) break;
      offset = parsed.next;
      this.onValue(parsed.value);
    }
    this.buffer = this.buffer.subarray(offset);
  }

  parse(offset) {
    const end = this.buffer.indexOf('\r\n', offset);
    if (end < 0) return undefined;
    const type = String.fromCharCode(this.buffer[offset]);
    const line = this.buffer.toString('utf8', offset + 1, end);
    const next = end + 2;
    if (type === '+' || type === ':') return { value: type === ':' ? Number(line) : line, next };
    if (type === '-') return { value: new Error(line), next };
    if (type === '$') {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (this.buffer.length < next + length + 2) return undefined;
      return { value: this.buffer.toString('utf8', next, next + length), next: next + length + 2 };
    }
    if (type === '*') {
      const count = Number(line);
      const values = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = this.parse(at);
        if (item === undefined) return undefined;
        values.push(item.value);
        at = item.next;
      }
      return { value: values, next: at };
    }
    throw new Error(`unexpected RESP type ${type}`);
  }
}

const stats = { token: 0, job: 0, heartbeat: 0, foreign: 0, errors: 0, instances: 0, subscribed: 0, refreshes: 0 };
const instances = [];

function open(node, name, password, onValue) {
  const socket = connect({ host: '127.0.0.1', port: node });
  socket.setNoDelay(true);
  const parser = new Parser(onValue);
  socket.on('data', (chunk) => parser.push(chunk));
  socket.on('error', () => stats.errors++);
  if (password !== undefined) socket.write(encode(['AUTH', password]));
  socket.write(encode(['CLIENT', 'SETNAME', name]));
  return socket;
}

/** One slot-map refresh as ioredis does it: a fresh connection, its name, CLUSTER SLOTS, closed. */
function refresh(nodes, password) {
  const node = nodes[Math.floor(Math.random() * nodes.length)];
  const socket = open(node, 'ioredis-cluster(refresher):jobgate-commands', password, (value) => {
    if (Array.isArray(value)) socket.end();
  });
  socket.write(encode(['CLUSTER', 'SLOTS']));
  stats.refreshes++;
}

function startInstance({ nodes, owner, cluster, prefix, password, refreshMs, legacy }) {
  const id = randomBytes(8).toString('hex');
  const channel = `${prefix}invalidate`;
  // legacy: the design before issue 22, every heartbeat on the shared channel (for comparison only).
  const beatChannel = legacy ? channel : `${channel}:heartbeat:${id}`;
  let sequence = 0;
  let subscribed = false;
  const subscriberNode = cluster ? nodes[Math.floor(Math.random() * nodes.length)] : owner;
  const subscriber = open(subscriberNode, 'jobgate-subscriber', password, (value) => {
    if (!Array.isArray(value)) return;
    if (value[0] === 'subscribe' && !subscribed && value[2] === (cluster && !legacy ? 2 : 1)) {
      subscribed = true;
      stats.subscribed++;
    } else if (value[0] === 'message') {
      const message = String(value[2]);
      if (value[1] === beatChannel && message.startsWith(`heartbeat:${id}:`)) stats.heartbeat++;
      else if (message.startsWith('token:')) stats.token++;
      else if (message.startsWith('job:')) stats.job++;
      else if (message.startsWith('heartbeat:')) stats.foreign++;
    }
  });
  subscriber.write(encode(cluster && !legacy ? ['SUBSCRIBE', channel, beatChannel] : ['SUBSCRIBE', channel]));
  const commands = open(owner, 'jobgate-commands', password, (value) => {
    if (value instanceof Error && !value.message.startsWith('NOSCRIPT')) stats.errors++;
  });
  let ticks = 0;
  const tick = () => {
    ticks++;
    // The readiness PING; on a Cluster the heartbeat script's answer stands for it.
    if (!cluster) commands.write(encode(['PING']));
    if (ticks % 5 === 0) commands.write(encode(['HGETALL', `${prefix}job:fleet`]));
    if (cluster) {
      sequence++;
      commands.write(encode(['EVALSHA', HEARTBEAT_SHA, 1, beatChannel, beatChannel, `heartbeat:${id}:${sequence}`]));
    }
  };
  // Spread over the second, as independent processes started at different times would be.
  const timer = setTimeout(
    () => {
      tick();
      instance.timer = setInterval(tick, 1000);
    },
    Math.floor(Math.random() * 1000),
  );
  // Two Cluster clients (commands and subscriber), each refreshing on its own timer.
  const refreshTimers = [];
  if (cluster) {
    for (const client of [0, 1]) {
      const again = () => {
        refresh(nodes, password);
        refreshTimers[client] = setTimeout(again, refreshMs);
      };
      refreshTimers[client] = setTimeout(again, Math.floor(Math.random() * refreshMs));
    }
  }
  const instance = { subscriber, commands, timer, refreshTimers, subscribed: () => subscribed };
  instances.push(instance);
  stats.instances++;
}

process.on('message', (message) => {
  if (message.grow) {
    const { count, ...options } = message.grow;
    // Load the heartbeat script once per node, as the first EVALSHA's NOSCRIPT would.
    if (options.cluster) {
      const loader = open(options.owner, 'fleet-loader', options.password, () => loader.end());
      loader.write(encode(['SCRIPT', 'LOAD', HEARTBEAT_SCRIPT]));
    }
    for (let i = 0; i < count; i++) startInstance(options);
    process.send({ grown: stats.instances });
  } else if (message.stats) {
    process.send({ stats: { ...stats } });
  } else if (message.stop) {
    for (const instance of instances) {
      clearTimeout(instance.timer);
      clearInterval(instance.timer);
      for (const timer of instance.refreshTimers) clearTimeout(timer);
      instance.subscriber.destroy();
      instance.commands.destroy();
    }
    process.exit(0);
  }
});
