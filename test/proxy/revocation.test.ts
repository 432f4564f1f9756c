import { once } from 'node:events';
import { createServer, request as httpRequest, type ServerResponse } from 'node:http';
import { createServer as createNetServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { bearer, request } from '../helpers/http.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually, within } from '../helpers/wait.js';

/** Two jobgate instances on one Redis and one key prefix, with caches that only invalidation can clear. */
async function twoInstances(t: Test, env: Record<string, string> = {}): Promise<[Harness, Harness, Upstream]> {
  const redis = await RedisServer.start();
  const up = await Upstream.start();
  const shared = {
    JOBGATE_KEY_PREFIX: `rev${Math.random().toString(36).slice(2, 8)}:`,
    JOBGATE_CACHE_TTL_MS: '300000',
    JOBGATE_NEGATIVE_CACHE_TTL_MS: '60000',
    ...env,
  };
  const a = await startHarness(shared, redis);
  const b = await startHarness(shared, redis);
  t.teardown(async () => {
    await a.close();
    await b.close();
    await up.close();
    await redis.stop();
  });
  return [a, b, up];
}

const statusOn = async (h: Harness, host: string, value?: string) => (await request(h.url, { host, headers: value ? bearer(value) : {} })).status;

t.test('every instance enforces a delete, a renew, a relabel and a job delete at once', async (t) => {
  const [a, b, up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const doomed = await a.tokens.create({ name: 'doomed', role: 'read', labelSelector: 'team=a' });
  const renewed = await a.tokens.create({ name: 'renewed', role: 'read', labelSelector: 'team=a' });
  for (const h of [a, b]) {
    t.equal(await statusOn(h, 'nb1.job.test', doomed.value), 200, 'warm cache');
    t.equal(await statusOn(h, 'nb1.job.test', renewed.value), 200, 'warm cache');
    t.equal(await statusOn(h, 'nb2.job.test', doomed.value), 404, 'unknown job cached negatively');
  }

  await a.tokens.delete(doomed.record.id);
  for (const h of [a, b])
    await eventually(`${h.url} to refuse the deleted token with 401`, async () => (await statusOn(h, 'nb1.job.test', doomed.value)) === 401);
  t.pass('a deleted token is refused by both instances');
  for (let i = 0; i < 2; i++) {
    // The second answer comes from the negative cache, before any hashing: the same 401.
    const again = await request(b.url, { host: 'nb1.job.test', headers: bearer(doomed.value) });
    t.equal(again.json().error, 'invalid_token');
    t.match(again.headers['www-authenticate'], /error_description="The token is unknown, deleted or renewed"/);
  }

  const next = await a.tokens.renew(renewed.record.id);
  for (const h of [a, b]) {
    await eventually(`${h.url} to refuse the renewed token's old value with 401`, async () => (await statusOn(h, 'nb1.job.test', renewed.value)) === 401);
    t.equal(await statusOn(h, 'nb1.job.test', next.value), 200, 'the renewed value works');
  }

  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'b' } });
  for (const h of [a, b])
    await eventually(`${h.url} to refuse the relabelled job with 403`, async () => (await statusOn(h, 'nb1.job.test', next.value)) === 403);
  t.pass('a relabelled job is out of scope on both instances');

  await a.jobs.put({ id: 'nb2', upstream: up.url, labels: { team: 'a' } });
  for (const h of [a, b])
    await eventually(`${h.url} to reach the new job nb2 (cached as unknown before)`, async () => (await statusOn(h, 'nb2.job.test', next.value)) === 200);
  t.pass('a new job is reachable although it was cached as unknown');

  await a.jobs.delete('nb2');
  for (const h of [a, b])
    await eventually(`${h.url} to answer 404 for the deleted job nb2`, async () => (await statusOn(h, 'nb2.job.test', next.value)) === 404);
  t.pass('a deleted job is gone on both instances');
});

t.test('a writer that forgets to publish is caught by the TTL', async (t) => {
  const [a, , up] = await twoInstances(t, { JOBGATE_CACHE_TTL_MS: '300' });
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 200);
  await a.admin.del(`${a.settings.keyPrefix}token:${token.record.id}`); // no PUBLISH
  await eventually(
    'the token deleted without a PUBLISH to be refused once its 300 ms TTL ran out',
    async () => (await statusOn(a, 'nb1.job.test', token.value)) === 401,
  );
  t.pass('refused once the TTL ran out');
});

/** Opens a WebSocket through jobgate and resolves once it is open. */
async function openSocket(h: Harness, host: string, value: string): Promise<WebSocket> {
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host, ...bearer(value) } });
  await within(
    new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    }),
    `a WebSocket to ${host} through ${h.url} to open`,
  );
  return socket;
}

/** The close code and reason of `socket`, once it closes; `what` names the socket in the failure. */
const closeOf = (socket: WebSocket, what: string) =>
  within(
    new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    `${what} to close`,
  );

/** The next message `socket` receives, as text. */
const messageOf = (socket: WebSocket, what: string) =>
  within(new Promise<string>((resolve) => socket.once('message', (data: Buffer) => resolve(data.toString()))), what);

t.test('live WebSockets close with 1008 when their access is revoked', async (t) => {
  const [a, b, up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'a' } });
  const deleted = await a.tokens.create({ name: 'deleted', role: 'read' });
  const renewed = await a.tokens.create({ name: 'renewed', role: 'read' });
  const scoped = await a.tokens.create({ name: 'scoped', role: 'read', labelSelector: 'team=a' });
  const bystander = await a.tokens.create({ name: 'bystander', role: 'read' });

  const sockets = {
    deleted: await openSocket(b, 'nb1.job.test', deleted.value),
    renewed: await openSocket(a, 'nb1.job.test', renewed.value),
    scoped: await openSocket(b, 'nb1.job.test', scoped.value),
    bystander: await openSocket(a, 'nb1.job.test', bystander.value),
  };
  t.teardown(() => Object.values(sockets).forEach((socket) => socket.terminate()));
  const echoed = messageOf(sockets.bystander, 'the echo of "hello" on the bystander WebSocket');
  sockets.bystander.send('hello');
  t.equal(await echoed, 'hello');

  const deletedClose = closeOf(sockets.deleted, "the deleted token's WebSocket");
  await a.tokens.delete(deleted.record.id);
  t.same(await deletedClose, { code: 1008, reason: 'token deleted' });

  const renewedClose = closeOf(sockets.renewed, "the renewed token's WebSocket");
  await a.tokens.renew(renewed.record.id);
  t.same(await renewedClose, { code: 1008, reason: 'token renewed' });

  const scopedClose = closeOf(sockets.scoped, "the WebSocket of the token scoped to the job's old labels");
  await a.jobs.put({ id: 'nb1', upstream: up.url, labels: { team: 'b' } });
  t.same(await scopedClose, { code: 1008, reason: 'token no longer matches the job labels' });

  t.equal(sockets.bystander.readyState, WebSocket.OPEN, 'an unscoped token unaffected by the changes stays connected');
  const still = messageOf(sockets.bystander, 'the echo of "still here" on the bystander WebSocket');
  sockets.bystander.send('still here');
  t.equal(await still, 'still here');
  await eventually('the upstream to hold only the bystander WebSocket (the revoked ones closed upstream too)', () => up.sockets.size === 1);
  t.pass('the upstream side of each revoked connection is closed too');
  const revoked = [...a.log.lines, ...b.log.lines].filter((line) => line.event === 'websocket_revoked');
  t.equal(revoked.length, 3);
});

t.test('a revoked WebSocket mid-message still gets a clean close frame', async (t) => {
  const [a, , up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  const socket = await openSocket(a, 'nb1.job.test', token.value);
  t.teardown(() => socket.terminate());
  const received: number[] = [];
  socket.on('message', (data: Buffer) => received.push(data.length));
  // Large messages keep frames in flight while the revocation lands.
  const big = Buffer.alloc(512 * 1024, 7);
  for (let i = 0; i < 8; i++) socket.send(big);
  const closed = closeOf(socket, 'the WebSocket of the token deleted mid-message');
  await eventually('the first 512 KiB echo to arrive', () => received.length >= 1);
  await a.tokens.delete(token.record.id);
  const { code } = await closed;
  t.equal(code, 1008, 'the client parsed a valid close frame, not a corrupted stream');
  t.ok(
    received.every((length) => length === big.length),
    'every message received was whole',
  );
});

t.test('brute force: past the failure limit, 429 for all but known-valid tokens', async (t) => {
  const [a, , up] = await twoInstances(t, { JOBGATE_AUTH_FAILURE_LIMIT: '3' });
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const known = await a.tokens.create({ name: 'known', role: 'read' });
  const uncached = await a.tokens.create({ name: 'uncached', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', known.value), 200, 'cached as valid');
  for (let i = 0; i < 10; i++) t.equal(await statusOn(a, 'nb1.job.test'), 401, 'no credential: not counted');
  t.equal(await statusOn(a, 'nb1.job.test', 'garbage'), 401);
  t.equal(await statusOn(a, 'nb1.job.test', known.value.slice(0, -8) + '00000000'), 401);
  const forged = known.value.replace(/_[0-9a-f]{64}_/, `_${'0'.repeat(64)}_`);
  const badChecksum = await request(a.url, { host: 'nb1.job.test', headers: bearer(forged) });
  t.equal(badChecksum.status, 401, 'bad checksum');
  t.match(badChecksum.headers['www-authenticate'], /error_description="The token is malformed"/, 'a wrong checksum is told apart from an unknown token');
  const blocked = await request(a.url, { host: 'nb1.job.test', headers: bearer('garbage') });
  t.equal(blocked.status, 429);
  t.match(blocked.headers['retry-after'], /^\d+$/);
  t.equal(blocked.json().error, 'too_many_requests');
  t.equal(await statusOn(a, 'nb1.job.test', uncached.value), 429, 'a valid token not in the cache waits too (no Redis lookup)');
  t.equal(await statusOn(a, 'nb1.job.test', known.value), 200, 'a known-valid token keeps working from a shared address');
  t.equal(await statusOn(a, 'nb1.job.test'), 401, 'without a credential the answer is still 401');
});

t.test('a gap in the subscription flushes the caches; readiness follows it', async (t) => {
  const [a, , up] = await twoInstances(t);
  await a.jobs.put({ id: 'nb1', upstream: up.url });
  const token = await a.tokens.create({ name: 'x', role: 'read' });
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 200);
  const readyz = () => request(a.adminUrl, { path: '/readyz' });
  t.same((await readyz()).json(), { status: 'ready' }, 'ready before the gap');

  await a.redisServer.stop();
  let during = await readyz();
  await eventually('/readyz to answer 503 naming the invalidation subscription while Redis is down', async () => {
    during = await readyz();
    if (during.status !== 503 || !during.body.includes('invalidation subscription is down'))
      throw new Error(`/readyz answered ${during.status} ${during.body.trim()}`);
    return true;
  });
  t.same(
    during.json(),
    { status: 'not ready', reasons: ['redis is not answering', 'invalidation subscription is down'] },
    'not ready during the gap, and the lost subscription is one of the reasons',
  );

  await a.redisServer.startAgain(); // comes back empty: messages about the lost records were never sent
  await eventually('/readyz to answer 200 once Redis is back and the subscription is restored', async () => (await readyz()).status === 200);
  t.same((await readyz()).json(), { status: 'ready' }, 'ready again after the gap');
  // The test's own Redis client reconnects on its own schedule: retried until it is back too.
  await eventually("the test's own Redis client to write the job again", () => a.jobs.put({ id: 'nb1', upstream: up.url }).then(() => true));
  t.equal(await statusOn(a, 'nb1.job.test', token.value), 401, 'the token cached before the gap is forgotten, though its TTL is 5 minutes');
});

t.test('readiness needs the invalidation subscription', async (t) => {
  const [a] = await twoInstances(t);
  t.equal((await request(a.adminUrl, { path: '/readyz' })).status, 200);
  // Commands keep working, but no connection may subscribe: drop the subscriber and let it fail to come back.
  await a.admin.call('ACL', 'SETUSER', 'default', 'resetchannels');
  await a.admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await eventually(
    '/readyz to answer 503 while Redis answers but the subscription is refused',
    async () => (await request(a.adminUrl, { path: '/readyz' })).status === 503,
  );
  const reply = await request(a.adminUrl, { path: '/readyz' });
  t.same(reply.json(), { status: 'not ready', reasons: ['invalidation subscription is down'] });
  await a.admin.call('ACL', 'SETUSER', 'default', 'allchannels');
  await eventually('/readyz to answer 200 once the subscription is allowed again', async () => (await request(a.adminUrl, { path: '/readyz' })).status === 200);
  t.pass('ready again once resubscribed');
});

/** An upstream that answers every request with an event stream that never ends; `open` counts the streams it is still writing. */
async function eventStreamUpstream(t: Test): Promise<{ url: string; open: Set<ServerResponse> }> {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    open.add(res);
    const tick = setInterval(() => res.write(`data: tick ${req.url}\n\n`), 50);
    res.write(`data: first ${req.url}\n\n`);
    res.on('close', () => {
      clearInterval(tick);
      open.delete(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, open };
}

interface Stream {
  /** Settles with the first event; rejects if the stream could not start. */
  readonly first: Promise<string>;
  /** Settles when the response is over: `complete` when it ended cleanly (the last chunk arrived). */
  readonly ended: Promise<{ complete: boolean }>;
  readonly events: () => number;
}

/** How `stream` ended; fails, naming `what`, if it still flows after a generous wait. */
const endOf = (stream: Stream, what: string): Promise<{ complete: boolean }> => within(stream.ended, `${what} to end`);

/** A long-lived GET through jobgate, read as it comes. */
function follow(h: Harness, host: string, path: string, headers: Record<string, string>, t: Test): Stream {
  const url = new URL(h.url);
  let count = 0;
  let settleFirst: (text: string) => void = () => {};
  let failFirst: (error: Error) => void = () => {};
  const first = new Promise<string>((resolve, reject) => {
    settleFirst = resolve;
    failFirst = reject;
  });
  const ended = new Promise<{ complete: boolean }>((resolve, rejectEnded) => {
    const reject = (error: Error) => {
      failFirst(error);
      rejectEnded(error);
    };
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { host, accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`expected a stream from ${host}${path}, got ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        count++;
        settleFirst(chunk);
      });
      res.on('end', () => resolve({ complete: res.complete }));
      res.on('close', () => resolve({ complete: res.complete }));
    });
    req.on('error', reject);
    req.end();
    t.teardown(() => req.destroy());
  });
  // Awaited by the test; a stream it no longer awaits (it failed earlier) is not a second failure.
  first.catch(() => {});
  ended.catch(() => {});
  return { first, ended, events: () => count };
}

/** Logs in on a job's login form: the session cookie to send. */
async function login(h: Harness, jobHost: string, value: string): Promise<string> {
  const reply = await request(h.url, {
    host: jobHost,
    method: 'POST',
    path: '/__jobgate/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://${jobHost}` },
    body: new URLSearchParams({ token: value, next: '/' }).toString(),
  });
  if (reply.status !== 303) throw new Error(`login failed: ${reply.status} ${reply.body}`);
  return String(reply.headers['set-cookie']).split(';')[0]!;
}

t.test('event streams and followed logs end when their access is revoked', async (t) => {
  const redis = await RedisServer.start();
  const events = await eventStreamUpstream(t);
  const h = await startHarness(
    { JOBGATE_CACHE_TTL_MS: '300000', JOBGATE_NEGATIVE_CACHE_TTL_MS: '60000', JOBGATE_API_HOST: 'api.test', JOBGATE_API_UPSTREAM: events.url },
    redis,
  );
  t.teardown(async () => {
    await h.close();
    await redis.stop();
  });
  await h.jobs.put({ id: 'nb1', upstream: events.url, labels: { team: 'a' } });
  const deleted = await h.tokens.create({ name: 'deleted', role: 'read' });
  const renewed = await h.tokens.create({ name: 'renewed', role: 'read' });
  const operator = await h.tokens.create({ name: 'operator', role: 'operator', labelSelector: 'team=a' });
  const bystander = await h.tokens.create({ name: 'bystander', role: 'read' });

  const streams = {
    bearer: follow(h, 'nb1.job.test', '/events', bearer(deleted.value), t),
    session: follow(h, 'nb1.job.test', '/events', { cookie: await login(h, 'nb1.job.test', renewed.value) }, t),
    api: follow(h, 'api.test', '/v1/job/nb1/log?follow=true', bearer(operator.value), t),
    bystander: follow(h, 'nb1.job.test', '/events', bearer(bystander.value), t),
  };
  for (const [name, stream] of Object.entries(streams)) await within(stream.first, `the first event of the ${name} stream`);
  await eventually('the upstream to hold four open streams', () => events.open.size === 4);
  t.pass('four streams flow');

  await h.tokens.delete(deleted.record.id);
  t.same(await endOf(streams.bearer, "the deleted bearer token's stream"), { complete: true }, 'a deleted token: the stream ends cleanly');

  await h.tokens.renew(renewed.record.id);
  t.same(await endOf(streams.session, "the renewed token's session stream"), { complete: true }, 'a renewed token: the session stream ends cleanly');

  await h.jobs.put({ id: 'nb1', upstream: events.url, labels: { team: 'b' } });
  t.same(
    await endOf(streams.api, 'the followed API log of the job relabelled out of scope'),
    { complete: true },
    'a job relabelled out of the scope: the followed API log ends',
  );

  await eventually('the upstream to hold only the bystander stream (the revoked ones closed upstream too)', () => events.open.size === 1);
  t.pass('the upstream side of each revoked stream is closed too');
  const before = streams.bystander.events();
  await eventually('three more events on the bystander stream', () => streams.bystander.events() > before + 2);
  t.pass('a stream whose access holds keeps flowing');
  const revoked = h.log.lines.filter((line) => line.event === 'response_revoked');
  t.same(
    revoked.map((line) => [line.tokenId, line.reason]),
    [
      [deleted.record.id, 'token deleted'],
      [renewed.record.id, 'token renewed'],
      [operator.record.id, 'token no longer matches the job labels'],
    ],
  );
  const metrics = await request(h.adminUrl, { path: '/metrics' });
  t.match(metrics.body, /^jobgate_responses_revoked_total 3$/m, 'counted in the metrics');
});

/**
 * A TCP relay in front of Redis that can hold Redis's answers on the connection that next asks
 * about `needle`: the lookup has happened in Redis, its answer is on its way, and the test can
 * change the registry before jobgate sees that answer.
 */
async function holdingRelay(t: Test, redis: RedisServer): Promise<{ url: string; hold(needle: string): void; held(): number; release(): void }> {
  let needle: Buffer | undefined;
  let held: Buffer[] | undefined;
  let heldBytes = 0;
  let release: () => void = () => {};
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = netConnect(redis.port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let holdingHere = false;
    client.on('data', (chunk: Buffer) => {
      if (needle && chunk.includes(needle)) {
        needle = undefined;
        holdingHere = true;
        held = [];
        release = () => {
          holdingHere = false;
          for (const part of held ?? []) client.write(part);
          held = undefined;
        };
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holdingHere) return void client.write(chunk);
      held!.push(chunk);
      heldBytes += chunk.length;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold(text: string) {
      needle = Buffer.from(text);
      heldBytes = 0;
    },
    held: () => heldBytes,
    release: () => release(),
  };
}

const tokenInvalidations = async (h: Harness): Promise<number> => {
  const text = (await request(h.adminUrl, { path: '/metrics' })).body;
  return Number(/^jobgate_invalidation_messages_total\{kind="token"\} (\d+)$/m.exec(text)?.[1] ?? 0);
};

t.test('a revocation that lands while the decision waits for Redis still cuts the connection', async (t) => {
  const redis = await RedisServer.start();
  const relay = await holdingRelay(t, redis);
  const up = await Upstream.start();
  const events = await eventStreamUpstream(t);
  // The Redis timeout is as long as allowed, so that the held answer arrives late rather than
  // failing; the cache TTL is long, so that only the invalidation can catch the connection.
  const h = await startHarness({ JOBGATE_REDIS_URL: relay.url, JOBGATE_REDIS_TIMEOUT_MS: '900', JOBGATE_CACHE_TTL_MS: '300000' }, redis);
  t.teardown(async () => {
    await h.close();
    await up.close();
    await redis.stop();
  });
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  await h.jobs.put({ id: 'sse1', upstream: events.url });

  /**
   * Opens a connection with a token whose lookup answer is held, deletes the token and waits until
   * jobgate has seen the invalidation, then lets the stale answer through. `open` reports what
   * became of the connection once it is over. A machine too slow to do all this within the Redis
   * timeout gets a 503 instead: that attempt proves nothing, so it is tried again.
   */
  const deleteDuringDecision = async (open: (value: string, outcome: (text: string) => void) => void): Promise<string> => {
    for (let attempt = 0; ; attempt++) {
      const token = await h.tokens.create({ name: `raced${attempt}`, role: 'read' });
      const seen = await tokenInvalidations(h);
      let outcome: string | undefined;
      relay.hold(token.record.id);
      open(token.value, (text) => (outcome ??= text));
      await eventually("the relay to hold Redis's answer to the token lookup", () => relay.held() > 0 || outcome !== undefined);
      await h.tokens.delete(token.record.id);
      await eventually('jobgate to count the invalidation of the deleted token', async () => (await tokenInvalidations(h)) > seen);
      relay.release();
      await eventually('the connection to be refused or end', () => outcome !== undefined).catch(() => {});
      outcome ??= 'still open after 30 s';
      if (outcome !== 'refused 503' || attempt === 4) return outcome;
    }
  };

  const wsOutcome = await deleteDuringDecision((value, outcome) => {
    const ws = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb1.job.test', ...bearer(value) } });
    t.teardown(() => ws.terminate());
    ws.once('unexpected-response', (_req, res) => {
      outcome(`refused ${res.statusCode}`);
      ws.terminate();
    });
    ws.once('close', (code) => outcome(`closed ${code}`));
    ws.on('error', () => {});
  });
  t.match(wsOutcome, /^(refused 401|closed 1008)$/, `the WebSocket was refused or closed, not left open (${wsOutcome})`);

  const url = new URL(h.url);
  const streamOutcome = await deleteDuringDecision((value, outcome) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: '/events', headers: { host: 'sse1.job.test', ...bearer(value) }, agent: false },
      (res) => {
        if (res.statusCode !== 200) outcome(`refused ${res.statusCode}`);
        res.resume();
        res.on('end', () => outcome('ended'));
        res.on('close', () => outcome('ended'));
      },
    );
    req.on('error', () => outcome('ended'));
    req.end();
    t.teardown(() => req.destroy());
  });
  t.match(streamOutcome, /^(refused 401|ended)$/, `the event stream was refused or ended, not left flowing (${streamOutcome})`);
  await eventually('the upstream to hold no open stream', () => events.open.size === 0);
  t.pass('no stream is left open upstream');
});
