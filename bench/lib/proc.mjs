// Child processes of the benchmark: free ports, start, wait until ready, peak RSS, stop.
// Every server listens on 127.0.0.1 only.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';

export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` (an async function returning true when ready) until it holds. */
export async function waitUntil(what, probe, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (
      await Promise.resolve()
        .then(probe)
        .catch(() => false)
    )
      return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export function tcpOpen(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One GET to 127.0.0.1:port (a new connection, unless an `agent` that keeps them alive is given); resolves with the status code. */
export function httpStatus(port, headers = {}, path = '/', agent = false) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Peak resident set size (VmHWM) of a process in bytes, from /proc; undefined elsewhere. */
export function peakRss(pid) {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resident set size (VmRSS) of a live process in bytes, from /proc; undefined elsewhere. */
export function rss(pid) {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a process's resident memory is, from /proc/PID/smaps, in bytes: `nodeBinary`, the pages of
 * the node executable read from its file (which every node process on the host shares), `otherFiles`,
 * pages of other files (shared libraries, ICU data), and `anonymous` (heap, stacks, and the private
 * copies of written file pages); the three add up to `total`. Undefined where smaps is missing.
 */
export function memoryBreakdown(pid, binary = process.execPath) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  let binaryPath = binary;
  try {
    binaryPath = realpathSync(binary);
  } catch {
    // Compared as given.
  }
  const out = { total: 0, nodeBinary: 0, otherFiles: 0, anonymous: 0 };
  let path = '';
  let mappingRss = 0;
  const close = (anonymous) => {
    const fileBacked = path.startsWith('/') ? mappingRss - anonymous : 0;
    if (path === binaryPath) out.nodeBinary += fileBacked;
    else out.otherFiles += fileBacked;
    out.anonymous += path.startsWith('/') ? anonymous : mappingRss;
    out.total += mappingRss;
  };
  let anonymous = 0;
  let open = false;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+ *(.*)$/.exec(line);
    if (header) {
      if (open) close(anonymous);
      open = true;
      path = header[1].trim();
      mappingRss = 0;
      anonymous = 0;
      continue;
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (field?.[1] === 'Rss') mappingRss = Number(field[2]) * 1024;
    else if (field) anonymous = Number(field[2]) * 1024;
  }
  if (open) close(anonymous);
  return out;
}

/** How many file descriptors a process has open; undefined where /proc is missing. */
export function openFds(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** A process's limits on open files (RLIMIT_NOFILE): { soft, hard }, Infinity when unlimited; undefined without /proc. */
export function fileLimits(pid) {
  try {
    const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    const value = (text) => (text === 'unlimited' ? Infinity : Number(text));
    return match ? { soft: value(match[1]), hard: value(match[2]) } : undefined;
  } catch {
    return undefined;
  }
}

let clockTicks;
function ticksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

function descendants(pid) {
  const found = [pid];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (children) for (const child of children.split(' ')) found.push(...descendants(Number(child)));
    }
  } catch {
    // Gone, or no /proc: counted as nothing.
  }
  return found;
}

/**
 * CPU time (user + system, all threads) in seconds used so far by processes `pids` and
 * their descendants (nginx's worker), from /proc; undefined where /proc is missing.
 */
export function cpuSeconds(pids) {
  let ticks = 0;
  let seen = false;
  for (const pid of pids.flatMap(descendants)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) in parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      seen = true;
    } catch {
      // Gone: counted as nothing.
    }
  }
  return seen ? ticks / ticksPerSecond() : undefined;
}

/** The benchmark's child processes: stdout discarded, the tail of stderr kept for errors. */
export class Processes {
  constructor() {
    this.children = [];
    this.stopping = false;
  }

  /** `ipc: true` opens a message channel (child.send, 'message'), for a child that takes orders. */
  start(name, command, args, env = {}, { ipc = false } = {}) {
    const stdio = ipc ? ['ignore', 'ignore', 'pipe', 'ipc'] : ['ignore', 'ignore', 'pipe'];
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio });
    child.benchName = name;
    child.stderrTail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text) => {
      child.stderrTail = (child.stderrTail + text).slice(-4000);
    });
    child.on('error', (error) => {
      child.stderrTail += `\n${error.message}`;
    });
    this.children.push(child);
    return child;
  }

  /** Throws when a child that should be serving has exited. */
  assertAlive(child) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.benchName} exited (${child.exitCode ?? child.signalCode}):\n${child.stderrTail.trim()}`);
    }
  }

  /** SIGTERM to one child; resolves when it has exited (SIGKILL after `graceMs`). */
  async stop(child, graceMs = 5000) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async stopAll() {
    this.stopping = true;
    await Promise.all(this.children.map((child) => this.stop(child)));
  }
}
