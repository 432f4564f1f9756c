import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';

/** redis-server is not on PATH. */
export class RedisMissingError extends Error {}

/** A redis-server child of this process: loopback only, in memory (no RDB, no AOF). */
export interface PrivateRedis {
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no free port on 127.0.0.1');
  return address.port;
}

/** True when a listener can bind 127.0.0.1:`port` now. */
export async function portIsFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** True when a Redis on 127.0.0.1:`port` answers PING within `timeoutMs`. */
export async function answersPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(timer);
}

/**
 * Starts redis-server on a free loopback port and waits until it answers PING (10 s at
 * most). `cancelled` is polled while waiting, so that a Ctrl-C during start-up is not
 * held up. While it runs, the process's 'exit' kills it too, so none is left behind.
 */
export async function startPrivateRedis(cancelled: () => boolean = () => false): Promise<PrivateRedis> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      // Its own process group: a terminal's Ctrl-C reaches only jobgate, which stops it in order.
      { stdio: 'ignore', detached: true },
    );
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (spawned) {
      if ((spawned as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new RedisMissingError(
          'redis-server is not installed; the demo starts a private one: install it (apt-get install redis-server) or set JOBGATE_REDIS_URL to a running Redis',
        );
      }
      throw new Error(`cannot start redis-server: ${spawned.message}`);
    }
    const killNow = () => {
      if (!exited(child)) child.kill('SIGKILL');
    };
    process.on('exit', killNow);
    const stop = async () => {
      await stopChild(child);
      process.off('exit', killNow);
    };
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (!exited(child) && !cancelled() && Date.now() < deadline) {
      if (await answersPing(port)) {
        ready = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    if (ready) return { port, pid: child.pid ?? 0, url: `redis://127.0.0.1:${port}`, stop };
    const died = exited(child);
    await stop();
    if (cancelled()) throw new Error('cancelled');
    // Another process may have taken the port between the check and redis-server's bind.
    if (died && attempt < 3) continue;
    throw new Error(
      died
        ? `redis-server exited at start (code ${child.exitCode ?? child.signalCode}) on port ${port}`
        : `redis-server did not answer on port ${port} within 10 s`,
    );
  }
}
