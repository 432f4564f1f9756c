import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { startSampleJobs } from '../../src/demo/jobs.js';
import { acceptKey } from '../../src/demo/websocket.js';
import { connectRedis, createRedis } from '../../src/redis/index.js';
import { JOBGATE_BIN, runCli } from '../helpers/cli.js';
import { request, type Reply } from '../helpers/http.js';
import { waitFor } from '../helpers/jobgate.js';
import { RedisServer } from '../helpers/redis.js';

const GREETING = 'Hello from the notebook job';

/** A `jobgate demo` process, as a user starts it, with what it printed. */
interface Demo {
  readonly child: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
}

function cleanEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (process.env.NODE_V8_COVERAGE) base.NODE_V8_COVERAGE = process.env.NODE_V8_COVERAGE;
  return { ...base, ...env };
}

/** Starts the demo and waits (generously) until it has printed its instructions. */
async function startDemo(t: Test, env: Record<string, string> = { JOBGATE_REDIS_URL: '' }, args: string[] = []): Promise<Demo> {
  const child = spawn(process.execPath, [JOBGATE_BIN, 'demo', ...args], { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const demo: Demo = { child, stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (demo.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (demo.stderr += chunk));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(() => demo.stdout.includes('token delete') || child.exitCode !== null, 60_000);
  if (child.exitCode !== null) throw new Error(`jobgate demo exited with ${child.exitCode}: ${demo.stderr}`);
  return demo;
}

async function interrupt(demo: Demo): Promise<number | null> {
  const exited = once(demo.child, 'exit') as Promise<[number | null]>;
  demo.child.kill('SIGINT');
  const [code] = await exited;
  return code;
}

/** A printed curl command, split as a POSIX shell would (the demo only uses single quotes). */
interface Curl {
  readonly headers: Record<string, string>;
  readonly url: URL;
  readonly line: string;
}

function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/'([^']*)'|(\S+)/g)) words.push(match[1] ?? match[2] ?? '');
  return words;
}

function curlCommands(stdout: string): Curl[] {
  return stdout
    .split('\n')
    .filter((line) => /^\s+curl /.test(line))
    .map((line) => {
      const words = shellWords(line.trim());
      const headers: Record<string, string> = {};
      let url: URL | undefined;
      for (let i = 1; i < words.length; i++) {
        const word = words[i]!;
        if (word === '-H') {
          const header = words[++i]!;
          const colon = header.indexOf(':');
          headers[header.slice(0, colon).toLowerCase()] = header.slice(colon + 1).trim();
        } else if (/^https?:\/\//.test(word)) url = new URL(word);
        else if (word !== '-i') throw new Error(`unexpected curl argument ${word} in: ${line}`);
      }
      if (!url) throw new Error(`no URL in: ${line}`);
      return { headers, url, line };
    });
}

/** What curl does with the command: connect to 127.0.0.1 (where *.localhost resolves), Host from the URL. */
async function run(curl: Curl): Promise<Reply> {
  return request(`http://127.0.0.1:${curl.url.port}`, {
    path: `${curl.url.pathname}${curl.url.search}`,
    headers: { host: curl.url.host, accept: '*/*', ...curl.headers },
  });
}

function printed(stdout: string, pattern: RegExp): string {
  const match = pattern.exec(stdout);
  if (!match?.[1]) throw new Error(`${pattern} not in the output:\n${stdout}`);
  return match[1];
}

async function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('jobgate demo: a private Redis, two jobs, tokens, and commands that work as printed', async (t) => {
  const demo = await startDemo(t);
  const { stdout } = demo;
  t.match(stdout, /^jobgate demo is running \(Ctrl-C stops everything it started\)\n/);
  const port = Number(printed(stdout, /proxy +http:\/\/127\.0\.0\.1:(\d+)/));
  const adminPort = Number(printed(stdout, /admin +http:\/\/127\.0\.0\.1:(\d+)\/readyz/));
  const redisPort = Number(printed(stdout, /redis +redis:\/\/127\.0\.0\.1:(\d+), a private redis-server/));
  const redisPid = Number(printed(stdout, /private redis-server \(pid (\d+)\)/));
  t.ok(alive(redisPid), 'the private redis-server runs');
  t.equal((await request(`http://127.0.0.1:${adminPort}`, { path: '/readyz' })).status, 200, 'jobgate is ready once it says so');

  const curls = curlCommands(stdout);
  t.equal(curls.length, 7, 'seven curl commands');
  for (const curl of curls) {
    t.equal(curl.url.port || curl.url.hostname, String(port), `the real port: ${curl.line.slice(0, 60)}`);
    if (curl.url.search) t.match(curl.line, /'http:[^']*\?[^']*'/, 'a URL with a query is quoted for the shell');
  }
  const [notebook, scoped, operator, anonymous, withHost, controlTokens, controlEvents] = curls as [Curl, Curl, Curl, Curl, Curl, Curl, Curl];
  const reader = notebook.headers.authorization!.replace('Bearer ', '');
  const operatorToken = operator.headers.authorization!.replace('Bearer ', '');
  t.match(reader, /^jgt_/, 'the token value is inline');
  t.not(reader, operatorToken);
  t.equal(notebook.url.href, `http://notebook.job.localhost:${port}/`);

  const first = await run(notebook);
  t.equal(first.status, 200, 'the first command answers 200');
  t.ok(first.body.includes(GREETING), 'with the notebook page');
  t.match(first.body, /X-Jobgate-Token-Name<\/th><td><code>demo-reader<\/code>/, 'showing the identity jobgate added');
  t.match(first.body, /X-Jobgate-Role<\/th><td><code>read<\/code>/);
  t.match(first.body, /new WebSocket\(/, 'the page opens a WebSocket');

  const denied = await run(scoped);
  t.equal(denied.status, 403, 'the read token is scoped to the notebook');
  t.equal(denied.json().error, 'insufficient_scope');
  t.equal(scoped.headers.authorization, notebook.headers.authorization);
  t.equal(scoped.url.hostname, 'model.job.localhost');

  const predicted = await run(operator);
  t.equal(predicted.status, 200, 'the operator token reaches the model');
  t.match(predicted.json(), { y: 2, x: 1, caller: { tokenName: 'demo-operator', role: 'operator' } });

  t.equal((await run(anonymous)).status, 401, 'no token: 401');
  t.equal(withHost.headers.host, 'notebook.job.localhost');
  t.equal(withHost.url.hostname, '127.0.0.1');
  const viaHost = await run(withHost);
  t.equal(viaHost.status, 200, 'the Host-header variant for old curls');
  t.ok(viaHost.body.includes(GREETING));

  const listed = await run(controlTokens);
  t.equal(listed.status, 200, 'the control API lists the tokens for the operator token');
  t.same(
    listed
      .json<Array<{ spec: { name: string } }>>()
      .map((token) => token.spec.name)
      .sort(),
    ['demo-operator', 'demo-reader'],
  );
  const events = await run(controlEvents);
  t.equal(events.status, 200, 'and the audit trail');
  t.same(
    events.json<Array<{ action: string }>>().map((event) => event.action),
    ['job.put', 'job.put', 'token.create', 'token.create'],
    'of the demo seeding',
  );

  await t.test('the console sign-in link, and the operator token signs in there', async (t) => {
    const signInUrl = printed(stdout, /^ +(http:\/\/127\.0\.0\.1:\d+\/console\/login)$/m);
    t.equal(signInUrl, `http://127.0.0.1:${port}/console/login`);
    const page = await request(signInUrl, { path: '/console/login', headers: { accept: 'text/html' } });
    t.equal(page.status, 200);
    t.match(page.body, 'Operator token');
    const operator = printed(stdout, /Bearer (jgt_[^']+)'[^\n]*\/api\/v1\/tokens/);
    const signedIn = await request(signInUrl, {
      method: 'POST',
      path: '/console/login',
      headers: { origin: `http://127.0.0.1:${port}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: operator }).toString(),
    });
    t.equal(signedIn.status, 303, 'the operator token printed signs in');
    t.match(String(signedIn.headers['set-cookie']), /^jobgate-console=/);
  });

  await t.test('the notebook page WebSocket echoes through jobgate, and closes cleanly', async (t) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/echo`, { headers: { host: `notebook.job.localhost:${port}`, authorization: `Bearer ${reader}` } });
    const messages: string[] = [];
    socket.on('message', (data: Buffer) => messages.push(data.toString()));
    await once(socket, 'open');
    socket.send('hello over a WebSocket');
    socket.send('é'.repeat(40));
    await waitFor(() => messages.length === 2, 10_000);
    t.same(messages, ['hello over a WebSocket', 'é'.repeat(40)]);
    socket.ping();
    await once(socket, 'pong');
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;
    socket.close(1000, 'bye');
    const [code] = await closed;
    t.equal(code, 1000, 'the close handshake completes');

    const long = new WebSocket(`ws://127.0.0.1:${port}/echo`, { headers: { host: `notebook.job.localhost:${port}`, authorization: `Bearer ${reader}` } });
    await once(long, 'open');
    const refused = once(long, 'close') as Promise<[number, Buffer]>;
    long.send('x'.repeat(200));
    const [longCode, reason] = await refused;
    t.equal(longCode, 1009, 'a message too long for the sample job is closed with 1009');
    t.match(reason.toString(), /under 126 bytes/);
  });

  await t.test('the browser deep links log in', async (t) => {
    const links = stdout
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line.includes('jobgate_token='));
    t.equal(links.length, 2);
    const link = new URL(links[0]!);
    t.equal(link.searchParams.get('jobgate_token'), reader);
    const login = await request(`http://127.0.0.1:${port}`, { path: `${link.pathname}${link.search}`, headers: { host: link.host, accept: 'text/html' } });
    t.equal(login.status, 303);
    t.equal(login.headers.location, '/');
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const page = await request(`http://127.0.0.1:${port}`, { path: '/', headers: { host: link.host, accept: 'text/html', cookie } });
    t.equal(page.status, 200);
    t.ok(page.body.includes(GREETING));
    const model = new URL(links[1]!);
    t.equal(model.searchParams.get('jobgate_token'), operatorToken);
    t.equal(model.pathname, '/predict');
  });

  await t.test('a second demo finds the ports taken and picks free ones', async (t) => {
    const second = await startDemo(t);
    const secondPort = Number(printed(second.stdout, /proxy +http:\/\/127\.0\.0\.1:(\d+)/));
    const secondAdmin = Number(printed(second.stdout, /admin +http:\/\/127\.0\.0\.1:(\d+)\/readyz/));
    t.not(secondPort, port);
    t.not(secondAdmin, adminPort);
    t.ok(port !== 8080 || secondPort !== 8080, 'only one of them can have 8080');
    const reply = await run(curlCommands(second.stdout)[0]!);
    t.equal(reply.status, 200);
    t.ok(reply.body.includes(GREETING));
    t.equal(await interrupt(second), 0);
  });

  t.equal(await interrupt(demo), 0, 'Ctrl-C (SIGINT) exits 0');
  t.match(demo.stdout, /jobgate demo stopped: jobgate and the sample jobs closed, redis-server \(pid \d+\) stopped\n$/);
  t.notOk(alive(redisPid), 'the redis-server it started is gone');
  t.ok(await refuses(redisPort), 'nothing answers on its port');
  t.ok(await refuses(port), 'the proxy port is released');
  t.ok(await refuses(adminPort), 'the admin port is released');
  t.notOk(demo.stderr.includes(reader), 'no token in the logs');
});

t.test('with JOBGATE_REDIS_URL, the demo uses that Redis under its own prefix and cleans up', async (t) => {
  const redis = await RedisServer.start();
  const admin = createRedis({ url: redis.url, commandTimeoutMs: 2000, reconnect: false });
  await connectRedis(admin, 2000);
  t.teardown(async () => {
    admin.disconnect();
    await redis.stop();
  });
  await admin.set('jobgate:unrelated', 'kept');
  const demo = await startDemo(t, { JOBGATE_REDIS_URL: redis.url });
  t.match(demo.stdout, new RegExp(`redis +redis://127\\.0\\.0\\.1:${redis.port} from JOBGATE_REDIS_URL: the demo's keys are under jobgate-demo:`));
  t.equal((await admin.keys('jobgate-demo:token:*')).length, 2, 'two tokens under the demo prefix');
  t.same((await admin.smembers('jobgate-demo:jobs')).sort(), ['model', 'notebook']);
  t.equal((await run(curlCommands(demo.stdout)[0]!)).status, 200);

  // The printed revocation command works, and the demo does not trip over it when it stops.
  const deleteLine = demo.stdout.split('\n').find((line) => line.includes('token delete'))!;
  const id = deleteLine.trim().split(' ').at(-1)!;
  t.match(deleteLine, /^ +npx jobgate --key-prefix jobgate-demo: token delete [0-9a-f-]{36}$/, 'no Redis URL (so no password) printed');
  const deleted = await runCli(['--key-prefix', 'jobgate-demo:', 'token', 'delete', id], { JOBGATE_REDIS_URL: redis.url });
  t.equal(deleted.code, 0);
  await waitFor(async () => (await run(curlCommands(demo.stdout)[0]!)).status === 401, 10_000);

  t.equal(await interrupt(demo), 0);
  t.match(demo.stdout, /jobgate demo stopped: jobgate and the sample jobs closed, its keys \(jobgate-demo:\*\) removed from Redis\n$/);
  t.same(await admin.keys('jobgate-demo:*'), [], 'nothing left under the demo prefix');
  t.equal(await admin.get('jobgate:unrelated'), 'kept', 'other data untouched');
});

t.test('without redis-server: one line saying how to install it, exit 1', async (t) => {
  const result = await runCli(['demo'], { PATH: '/nonexistent', JOBGATE_REDIS_URL: '' });
  t.equal(result.code, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, /^jobgate: redis-server is not installed.*apt-get install redis-server.*\n$/);
  t.equal(result.stderr.split('\n').length, 2, 'one line');
});

t.test('--port on a busy port is refused with exit 2; --help says what it needs', async (t) => {
  const holder = await startDemo(t, { JOBGATE_REDIS_URL: '' }, ['--port', '0', '--admin-port', '0']);
  t.equal((await run(curlCommands(holder.stdout)[0]!)).status, 200, '--port 0 takes any free port');
  const busy = printed(holder.stdout, /proxy +http:\/\/127\.0\.0\.1:(\d+)/);
  const forced = await runCli(['demo', '--port', busy], { JOBGATE_REDIS_URL: '' });
  t.equal(forced.code, 2);
  t.match(
    forced.stderr,
    new RegExp(`^jobgate: cannot listen on 127\\.0\\.0\\.1:${busy} \\(--port\\): the port is in use; leave out --port to take a free one\\n$`),
  );
  t.equal(forced.stdout, '');
  t.equal(await interrupt(holder), 0);

  const bad = await runCli(['demo', '--port', 'eighty']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--port <n>.*expected a port number/);

  const help = await runCli(['demo', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /apt-get install redis-server/);
  t.match(help.stdout, /--admin-port <n>/);
});

t.test('the sample jobs, in process: the API answers, the handshake (RFC 6455 example), refusals', async (t) => {
  t.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'the example of RFC 6455 1.3');
  const jobs = await startSampleJobs();
  t.teardown(() => jobs.close());
  const identity = { 'x-jobgate-token-name': encodeURIComponent('zoë <b>'), 'x-jobgate-role': 'read' };
  const page = await request(jobs.notebookUrl, { headers: identity });
  t.equal(page.status, 200);
  t.ok(page.body.includes('<code>zoë &lt;b&gt;</code>'), 'a percent-encoded name is decoded, then escaped');
  t.ok((await request(jobs.notebookUrl)).body.includes('(none: jobgate did not add it)'));
  t.equal((await request(jobs.notebookUrl, { path: '/elsewhere' })).status, 404);
  t.match((await request(jobs.modelUrl, { headers: identity })).json(), { model: 'doubler', caller: { tokenName: 'zoë <b>', role: 'read' } });
  t.match((await request(jobs.modelUrl, { path: '/predict?x=2.5' })).json(), { y: 5, x: 2.5 });
  t.equal((await request(jobs.modelUrl, { path: '/predict?x=two' })).status, 400);
  t.equal((await request(jobs.modelUrl, { path: '/predict' })).status, 400);
  t.equal((await request(jobs.modelUrl, { path: '/train' })).status, 404);
  t.equal((await request(jobs.modelUrl, { method: 'POST', path: '/predict?x=1' })).status, 405);
  const noKey = await request(jobs.notebookUrl, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
  t.equal(noKey.status, 400, 'an upgrade without Sec-WebSocket-Key is refused');

  // Straight to the sample job (no jobgate): an unmasked client frame is a protocol error.
  const socket = new WebSocket(`${jobs.notebookUrl.replace('http', 'ws')}/echo`);
  await once(socket, 'open');
  const closed = once(socket, 'close') as Promise<[number, Buffer]>;
  (socket as unknown as { _socket: Socket })._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  const [code] = await closed;
  t.equal(code, 1002, 'unmasked frames from a client are refused with 1002');
});
