import t, { type Test } from 'tap';
import { connect as netConnect, type Socket } from 'node:net';
import { request } from '../helpers/http.js';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

const up = await Upstream.start('malformed-upstream');
const h = await startHarness();
const port = h.jobgate.proxyAddress.port;
const openSockets = new Set<Socket>();
const extraHarnesses: Harness[] = [];

t.teardown(async () => {
  for (const socket of openSockets) socket.destroy();
  for (const harness of extraHarnesses) await harness.close();
  await h.close();
  await up.close();
});

await h.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
const alice = await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' });

interface RawReply {
  readonly text: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function parseReply(text: string): RawReply {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { text, status, headers, body: end === -1 ? '' : text.slice(end + 4) };
}

/** Writes raw bytes to a proxy port and collects everything until the server closes the connection. */
function exchange(data: string | Buffer, toPort = port): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(toPort, '127.0.0.1');
    openSockets.add(socket);
    const chunks: Buffer[] = [];
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s (the connection was left open)')));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      openSockets.delete(socket);
      resolve(parseReply(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(data);
  });
}

const VALID = 'GET / HTTP/1.1\r\nHost: nb1.job.test\r\nConnection: close\r\n';

/** Asserts the refusal's status and that jobgate logged it (client_error or access line). */
async function expectRefused(t: Test, raw: string | Buffer, status: number): Promise<RawReply> {
  const before = h.log.lines.length;
  const reply = await exchange(raw);
  t.equal(reply.status, status, `answered ${status}`);
  const logged = await waitFor(() =>
    h.log.lines.slice(before).some((line) => (line.event === 'client_error' || line.event === 'access') && line.status === status),
  ).then(
    () => true,
    () => false,
  );
  t.ok(logged, `the ${status} refusal is logged (a client_error or access line)`);
  return reply;
}

function errorOf(reply: RawReply): unknown {
  try {
    return (JSON.parse(reply.body) as { error?: unknown }).error;
  } catch {
    return `not JSON: ${JSON.stringify(reply.body)}`;
  }
}

t.test('Content-Length together with Transfer-Encoding is refused', async (t) => {
  const reply = await expectRefused(
    t,
    'POST / HTTP/1.1\r\nHost: nb1.job.test\r\n' +
      `Authorization: Bearer ${alice.value}\r\n` +
      'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: nb1.job.test\r\n\r\n',
    400,
  );
  t.equal(errorOf(reply), 'bad_request');
  t.equal(reply.headers.connection, 'close');

  await expectRefused(t, 'POST / HTTP/1.1\r\nHost: nb1.job.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400);
  t.equal(up.received.length, 0, 'the upstream never saw either request');
});

t.test('invalid header bytes are refused', async (t) => {
  const control = await expectRefused(t, `${VALID}X-Bad: a\x01b\r\n\r\n`, 400);
  t.equal(errorOf(control), 'bad_request');
  await expectRefused(t, `${VALID}Bad Name: x\r\n\r\n`, 400);
  await expectRefused(t, `${VALID}X-Nul: a\x00b\r\n\r\n`, 400);
  t.equal(up.received.length, 0);
});

t.test('over-long headers are refused with 431', async (t) => {
  const reply = await expectRefused(t, `${VALID}X-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`, 431);
  t.equal(errorOf(reply), 'request_header_fields_too_large');
  let many = '';
  for (let i = 0; i < 40; i++) many += `X-Part-${i}: ${'p'.repeat(500)}\r\n`;
  await expectRefused(t, `${VALID}${many}\r\n`, 431);
  t.equal(up.received.length, 0);
});

t.test('more than 100 headers are refused with 431', async (t) => {
  let extra = '';
  for (let i = 0; i < 150; i++) extra += `X-H${i}: v\r\n`;
  const reply = await expectRefused(t, `${VALID}Authorization: Bearer ${alice.value}\r\n${extra}\r\n`, 431);
  t.equal(errorOf(reply), 'request_header_fields_too_large');

  let justOver = '';
  for (let i = 0; i < 98; i++) justOver += `X-H${i}: v\r\n`; // + Host, Connection, Authorization = 101
  await expectRefused(t, `${VALID}Authorization: Bearer ${alice.value}\r\n${justOver}\r\n`, 431);
  t.equal(up.received.length, 0);
});

t.test('request-line garbage is refused', async (t) => {
  await expectRefused(t, '\x00\x01\x02 garbage\r\n\r\n', 400);
  await expectRefused(t, 'GET\r\n\r\n', 400);
  await expectRefused(t, 'GET / HTTP/1.1 extra\r\nHost: nb1.job.test\r\n\r\n', 400);
  t.equal(up.received.length, 0);
});

t.test('bad bearer tokens are refused with 401 invalid_token', async (t) => {
  const long = await expectRefused(t, `${VALID}Authorization: Bearer ${'a'.repeat(5000)}\r\n\r\n`, 401);
  t.equal(errorOf(long), 'invalid_token');
  t.match(long.headers['www-authenticate'], /error="invalid_token"/);
  t.notMatch(long.text, 'aaaaaaaaaa', 'the credential is not echoed');

  const last = alice.value.at(-1) === '0' ? '1' : '0';
  const badCheck = await expectRefused(t, `${VALID}Authorization: Bearer ${alice.value.slice(0, -1)}${last}\r\n\r\n`, 401);
  t.equal(errorOf(badCheck), 'invalid_token');
  t.match(badCheck.headers['www-authenticate'], /^Bearer realm="jobgate", error="invalid_token"/);
  t.notMatch(badCheck.text, alice.value.slice(4, 40), 'the token is not echoed');
  t.equal(up.received.length, 0);
});

t.test('two Authorization headers are refused with 400 invalid_request', async (t) => {
  const reply = await expectRefused(t, `${VALID}Authorization: Bearer ${alice.value}\r\nAuthorization: Bearer ${alice.value}\r\n\r\n`, 400);
  t.equal(errorOf(reply), 'invalid_request');
  t.match(reply.headers['www-authenticate'], /error="invalid_request"/);
  t.equal(up.received.length, 0);
});

t.test('HTTP/1.1 without Host is refused with 400', async (t) => {
  const reply = await expectRefused(t, `GET / HTTP/1.1\r\nAuthorization: Bearer ${alice.value}\r\nConnection: close\r\n\r\n`, 400);
  t.equal(errorOf(reply), 'bad_request', "the answer has jobgate's JSON error body");
  t.equal(up.received.length, 0);
});

t.test('a slow client is cut off instead of holding the socket', async (t) => {
  const slow = await startHarness({ JOBGATE_HEADERS_TIMEOUT_MS: '1000', JOBGATE_REQUEST_TIMEOUT_MS: '1000' });
  extraHarnesses.push(slow);
  const slowPort = slow.jobgate.proxyAddress.port;

  const watch = (first: string | undefined) => {
    const socket = netConnect(slowPort, '127.0.0.1');
    openSockets.add(socket);
    const state = { closed: false, received: '' };
    socket.on('data', (chunk: Buffer) => (state.received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      state.closed = true;
      openSockets.delete(socket);
    });
    if (first !== undefined) socket.write(first);
    return state;
  };
  // Part of the headers, then nothing; and a connection that never sends a byte. Node's header
  // timeout reports both to jobgate's clientError handler (ERR_HTTP_REQUEST_TIMEOUT) while the
  // socket is still writable: jobgate answers each 408 in its JSON shape, closes it, and logs it.
  const partial = watch(`GET / HTTP/1.1\r\nHost: nb1.job.test\r\nAuthorization: Bearer ${alice.value}\r\nX-Slow: `);
  const silent = watch(undefined);

  // This checks "cut off", not how fast: the wait is bounded far beyond the configured 1 s.
  const closed = await waitFor(() => partial.closed && silent.closed).then(
    () => true,
    () => false,
  );
  t.ok(
    closed,
    `jobgate closed the stalled request (${partial.closed ? 'closed' : 'still open'}) and the silent connection (${silent.closed ? 'closed' : 'still open'})`,
  );
  for (const [what, state] of [
    ['the stalled request', partial],
    ['the silent connection', silent],
  ] as const) {
    const reply = parseReply(state.received);
    t.equal(reply.status, 408, `${what}: answered 408 before the close (got ${JSON.stringify(state.received.slice(0, 40))})`);
    t.equal(errorOf(reply), 'request_timeout', `${what}: jobgate's JSON error body`);
    t.equal(reply.headers.connection, 'close', `${what}: the answer says the connection closes`);
  }
  const logged = await waitFor(() => slow.log.lines.filter((line) => line.event === 'client_error').length >= 2).then(
    () => true,
    () => false,
  );
  t.ok(logged, 'a client_error line was logged for each of the two connections');
  t.match(
    slow.log.lines.filter((line) => line.event === 'client_error'),
    [
      { code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, remoteAddress: '127.0.0.1' },
      { code: 'ERR_HTTP_REQUEST_TIMEOUT', status: 408, remoteAddress: '127.0.0.1' },
    ],
    'both are logged as request timeouts answered 408',
  );
  t.equal(slow.log.lines.filter((line) => line.event === 'client_error').length, 2, 'one line each');
  t.notMatch(slow.log.text, alice.value, 'the token the stalled request carried is not logged');
});

t.test('the proxy still serves a valid request afterwards', async (t) => {
  const reply = await request(h.url, { host: 'nb1.job.test', headers: { authorization: `Bearer ${alice.value}` }, timeoutMs: 5000 });
  t.equal(reply.status, 200);
  t.equal(reply.json().name, 'malformed-upstream');
  t.equal(up.received.length, 1, 'only the valid request reached the upstream');
  t.equal(up.last.url, '/');
  t.equal(up.last.headers.authorization, undefined);

  // Node's client adds Connection: close (no agent): Host, Authorization, Connection + 97 = 100, the limit.
  const headers: Record<string, string> = { authorization: `Bearer ${alice.value}` };
  for (let i = 0; i < 97; i++) headers[`x-h${i}`] = 'v';
  const atLimit = await request(h.url, { host: 'nb1.job.test', headers, timeoutMs: 5000 });
  t.equal(atLimit.status, 200, 'exactly JOBGATE_MAX_HEADERS headers pass');
  t.equal(Object.keys(up.last.headers).filter((name) => /^x-h\d+$/.test(name)).length, 97, 'all of them were forwarded');
  t.equal(up.received.length, 2);
});
