import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';
import { MIN_WAIT_MS } from './wait.js';

/** The shipped example; the tests run this file, with the addresses substituted. */
export const NGINX_EXAMPLE = fileURLToPath(new URL('../../deploy/nginx/jobgate.conf', import.meta.url));

const INSTALL_HINT = 'the forward-auth tests run a real nginx: install it with `apt-get install -y nginx` (Debian/Ubuntu; .ci/run does) or set NGINX_PATH';

/** The nginx binary: NGINX_PATH, else `nginx` on PATH or in /usr/sbin (Debian's, not on a user's PATH). */
export function nginxBinary(): string {
  const candidates = process.env.NGINX_PATH
    ? [process.env.NGINX_PATH]
    : [
        ...(process.env.PATH ?? '')
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, 'nginx')),
        '/usr/sbin/nginx',
        '/usr/local/sbin/nginx',
      ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const probe = spawnSync(candidate, ['-V'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) continue;
    if (!probe.stderr.includes('http_auth_request_module')) throw new Error(`${candidate} lacks ngx_http_auth_request_module: ${INSTALL_HINT}`);
    return candidate;
  }
  throw new Error(`nginx is not installed (looked for ${candidates.join(', ')}): ${INSTALL_HINT}`);
}

export interface ExampleAddresses {
  /** Port nginx listens on (127.0.0.1). */
  readonly listenPort: number;
  /** JOBGATE_AUTHZ_LISTEN and JOBGATE_LISTEN, as host:port. */
  readonly authz: string;
  readonly jobgate: string;
  /** JOBGATE_JOB_DOMAIN. */
  readonly jobDomain: string;
  /** JOBGATE_API_HOST and the training API's host:port. */
  readonly apiHost: string;
  readonly apiUpstream: string;
  /** $job (first host label) -> host:port, the map's entries. */
  readonly jobs: Readonly<Record<string, string>>;
  /** The access log file of the example's servers. */
  readonly accessLog: string;
}

/** Replaces `search`, which must occur exactly `count` times: the test runs the shipped file or fails. */
function substitute(text: string, search: string, replacement: string, count = 1): string {
  const found = text.split(search).length - 1;
  if (found !== count) throw new Error(`${NGINX_EXAMPLE}: expected ${count} occurrence(s) of ${JSON.stringify(search)}, found ${found}`);
  return text.split(search).join(replacement);
}

/**
 * deploy/nginx/jobgate.conf with the test's addresses in place of the example's, nothing else
 * changed; with `http2`, its servers speak HTTP/2 without TLS (prior knowledge) instead of HTTP/1.1.
 */
export function renderExample(addresses: ExampleAddresses, variant: { readonly http2?: boolean } = {}): string {
  let text = readFileSync(NGINX_EXAMPLE, 'utf8');
  text = substitute(text, '    listen 80;', `    listen 127.0.0.1:${addresses.listenPort}${variant.http2 ? ' http2' : ''};`, 2);
  text = substitute(text, 'server 127.0.0.1:9191;', `server ${addresses.authz};`);
  text = substitute(text, 'server 127.0.0.1:8080;', `server ${addresses.jobgate};`);
  text = substitute(text, 'server 127.0.0.1:8000;', `server ${addresses.apiUpstream};`);
  text = substitute(text, '\\.job\\.example\\.com$;', `\\.${addresses.jobDomain.replaceAll('.', '\\.')}$;`);
  text = substitute(text, 'server_name api.example.com;', `server_name ${addresses.apiHost};`);
  text = substitute(text, 'access_log /var/log/nginx/jobgate.access.log jobgate;', `access_log ${addresses.accessLog} jobgate;`, 2);
  const begin = '    # BEGIN job upstreams\n';
  const end = '    # END job upstreams\n';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from === -1 || to < from) throw new Error(`${NGINX_EXAMPLE}: the job upstreams markers are missing`);
  const entries = Object.entries(addresses.jobs).map(([job, address]) => `    ${job} ${address};\n`);
  return text.slice(0, from + begin.length) + entries.join('') + text.slice(to);
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A private nginx (master + one worker, in the foreground) on a free loopback port: its own
 * prefix, pid file, logs and temp directories in a temporary directory; `site` is included in
 * its http {} context. Never the system's nginx service.
 */
export class Nginx {
  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts nginx with `site(port, dir)`: the port to listen on is chosen first; `dir` holds the logs. */
  static async start(site: (port: number, dir: string) => string): Promise<Nginx> {
    const binary = nginxBinary();
    const dir = mkdtempSync(join(tmpdir(), 'jobgate-nginx-'));
    const port = await freePort();
    writeFileSync(join(dir, 'site.conf'), site(port, dir));
    const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${name}_temp_path ${join(dir, name)};`).join('\n');
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        // As root, workers would switch to an unprivileged user that cannot write the temp directories.
        ...(process.getuid?.() === 0 ? ['user root;'] : []),
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} notice;`,
        'events { worker_connections 512; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        temp,
        `  include ${join(dir, 'site.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
    const check = spawnSync(binary, [...args, '-t'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx refuses the configuration (${dir}):\n${check.stderr}`);
    const child = spawn(binary, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const nginx = new Nginx(child, dir, port);
    const deadline = Date.now() + MIN_WAIT_MS;
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}: ${stderr}${nginx.errorLog()}`);
      if (Date.now() > deadline) {
        await nginx.stop();
        throw new Error(`nginx did not listen on ${port} within ${MIN_WAIT_MS / 1000} s: ${nginx.errorLog()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return nginx;
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }

  accessLog(): string {
    try {
      return readFileSync(join(this.dir, 'access.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Fast shutdown (SIGTERM: the master stops its workers), then the directory is removed. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What came back for raw bytes: the status (0 when the connection closed without an answer) and the answer's text. */
export interface RawReply {
  readonly status: number;
  readonly text: string;
}

/** True once `data` holds one whole HTTP/1.1 response (headers, then a Content-Length or chunked body). */
function wholeResponse(data: string): boolean {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = data.slice(0, end).toLowerCase();
  const body = data.slice(end + 4);
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) return Buffer.byteLength(body) >= Number(length[1]);
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head)) return /(^|\r\n)0\r\n\r\n$/.test(body);
  return /^http\/1\.1 (1\d\d|204|304) /.test(head);
}

/**
 * Sends `bytes` as they are over a new loopback connection and reads the first answer: whole
 * (by its framing), or whatever came before the server closed the connection or `timeoutMs` passed.
 */
export function sendRaw(port: number, bytes: string | Buffer, timeoutMs = 20_000): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve({ status: status ? Number(status[1]) : 0, text: data });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (wholeResponse(data)) finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.write(bytes);
  });
}
