import t from 'tap';
import WebSocket from 'ws';
import { bearer, request } from '../helpers/http.js';
import { startHarness, waitFor, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

/**
 * The request id an upstream sees is jobgate's, the one in jobgate's access line: a client
 * cannot choose it (its own is passed on as X-Client-Request-Id), and it cannot be guessed
 * from another one.
 */

let h: Harness;
let up: Upstream;
let value: string;

t.before(async () => {
  up = await Upstream.start('job');
  h = await startHarness();
  await h.jobs.put({ id: 'nb1', upstream: up.url });
  value = (await h.tokens.create({ name: 'ids', role: 'read' })).value;
});

t.teardown(async () => {
  await h?.close();
  await up?.close();
});

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The access line of the request jobgate logged under `id`, once written. */
async function accessLine(id: string): Promise<Record<string, unknown>> {
  await waitFor(() => h.log.access.some((line) => line.requestId === id));
  return h.log.access.find((line) => line.requestId === id)!;
}

t.test("the upstream gets jobgate's request id, the one in the access log, never the client's", async (t) => {
  const reply = await request(h.url, {
    host: 'nb1.job.test',
    path: '/x',
    headers: { ...bearer(value), 'x-request-id': 'client-chosen', x_request_id: 'sneaky', 'x-client-request-id': 'forged' },
  });
  t.equal(reply.status, 200);
  const seen = up.last.headers;
  const id = String(seen['x-request-id']);
  t.not(id, 'client-chosen', "the client's X-Request-Id is not the id");
  t.match(id, UUID_V7, 'a UUIDv7');
  t.equal(seen['x-client-request-id'], 'client-chosen', "the client's id is passed on under another name");
  t.equal(seen.x_request_id, undefined, "the '_' spelling does not reach the upstream");
  t.match(await accessLine(id), { kind: 'http', jobId: 'nb1', path: '/x', status: 200 }, 'the id jobgate logged for this request');
});

t.test('a WebSocket handshake too', async (t) => {
  const socket = new WebSocket(`${h.url.replace('http', 'ws')}/ws`, { headers: { host: 'nb1.job.test', ...bearer(value), 'x-request-id': 'client-chosen' } });
  t.teardown(() => socket.terminate());
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const seen = up.last.headers;
  t.match(String(seen['x-request-id']), UUID_V7);
  t.equal(seen['x-client-request-id'], 'client-chosen');
  socket.close();
  t.match(await accessLine(String(seen['x-request-id'])), { kind: 'websocket', jobId: 'nb1' });
});

t.test('request ids are unique and carry at least 64 random bits: none follows from the one before', async (t) => {
  const ids: string[] = [];
  for (let batch = 0; batch < 8; batch++) {
    const before = up.received.length;
    await Promise.all(Array.from({ length: 8 }, () => request(h.url, { host: 'nb1.job.test', headers: bearer(value), timeoutMs: 30_000 })));
    for (const seen of up.received.slice(before)) ids.push(String(seen.headers['x-request-id']));
  }
  t.equal(ids.length, 64);
  t.equal(new Set(ids).size, ids.length, 'no id twice');
  t.same(
    ids.filter((id) => !UUID_V7.test(id)),
    [],
    'every id is a UUIDv7',
  );
  if (!ids.every((id) => UUID_V7.test(id))) return;

  // The bits after UUIDv7's 48-bit time, less its version and variant: 74 random bits. Each
  // varies across 64 ids unless it is fixed (chance 2^-63 per bit for a random one).
  const randomBits = ids.map((id) => BigInt(`0x${id.replaceAll('-', '')}`) & ((1n << 80n) - 1n));
  let varying = 0;
  for (let bit = 0n; bit < 80n; bit++) {
    const values = new Set(randomBits.map((bits) => (bits >> bit) & 1n));
    if (values.size === 2) varying++;
  }
  t.ok(varying >= 64, `${varying} bits vary across requests (at least 64)`);
  t.equal(new Set(randomBits).size, ids.length, 'the random parts differ');
  // A counter shows as a small step in the low bits; random ones are 2^47 apart on average.
  const low = ids.map((id) => BigInt(`0x${id.slice(-12)}`));
  for (let i = 1; i < low.length; i++) {
    const step = low[i]! > low[i - 1]! ? low[i]! - low[i - 1]! : low[i - 1]! - low[i]!;
    if (step < 1n << 24n) t.fail(`ids ${ids[i - 1]} and ${ids[i]} differ by a counter-like step ${step}`);
  }
});
