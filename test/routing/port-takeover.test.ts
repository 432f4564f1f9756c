import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { startHarness, waitFor } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { KeySpace } from '../../src/redis/index.js';
import { loginCookie } from '../session/support.js';

/**
 * A host name `nb-8888.<domain>` reads as job `nb-8888` or as port 8888 of job `nb`. `job put`
 * refuses to make both exist (test/jobs/store.test.ts); an admin script writing Redis directly
 * can still do it. Then the host is refused (409), and a session cookie issued for port 8888 of
 * job nb never authenticates a request routed to job nb-8888.
 */

const notebook = await Upstream.start('notebook');
const intruder = await Upstream.start('intruder');
const PREFIX = 'takeover:';
const h = await startHarness({ JOBGATE_KEY_PREFIX: PREFIX });
t.teardown(async () => {
  await h.close();
  await notebook.close();
  await intruder.close();
});
const keys = new KeySpace(PREFIX);
await h.jobs.put({ id: 'nb', upstream: notebook.url, ports: { '8888': notebook.url } });
const { value } = await h.tokens.create({ name: 'alice', role: 'read' });
const HOST = 'nb-8888.job.test';
const BROWSER = { accept: 'text/html' };

/** Writes job `id` as an admin script would (docs/redis-schema.md), around `jobgate job put`. */
async function writeByHand(id: string, upstream: string, ports: Record<string, string> = {}): Promise<void> {
  const now = new Date().toISOString();
  const hash = { id, labels: '{}', upstream: `${upstream}/`, ports: JSON.stringify(ports), unsecureHttp: 'false', createdAt: now, updatedAt: now };
  await h.admin.multi().del(keys.job(id)).hset(keys.job(id), hash).sadd(keys.jobs, id).publish(keys.channel, `job:${id}`).exec();
}

const get = (headers: Record<string, string>): Promise<Reply> => request(h.url, { host: HOST, path: '/lab', headers, timeoutMs: 30_000 });

/** True once the answer to `headers` no longer comes from the notebook upstream (the change reached the proxy). */
const notNotebook = async (headers: Record<string, string>): Promise<boolean> => {
  const reply = await get(headers);
  return reply.status !== 200 || !reply.body.includes('"name":"notebook"');
};

t.test('a cookie for port 8888 of job nb: refused once an admin script makes nb-8888 a job, whichever way the host then resolves', async (t) => {
  const session = await loginCookie(h.url, HOST, value);
  const before = await get({ cookie: session });
  t.equal(before.status, 200, 'the session opens port 8888 of job nb');
  t.equal(before.json().name, 'notebook');

  // Both readings exist: job nb-8888, and port 8888 of job nb.
  await writeByHand('nb-8888', intruder.url);
  await waitFor(() => notNotebook({ cookie: session }));
  const ambiguous = await get({ cookie: session, ...BROWSER });
  t.equal(ambiguous.status, 409, 'the ambiguous host is refused');
  t.equal(ambiguous.json().error, 'ambiguous_host');
  t.match(ambiguous.json().message, /both a job id and another job's <job-id>-<port> host name/);
  t.equal((await get(bearer(value))).status, 409, 'for a bearer token too: neither job is served');
  t.equal((await get({})).status, 409, 'and without a credential');

  // The port goes away: the host name now means job nb-8888 alone.
  await writeByHand('nb', notebook.url);
  await waitFor(async () => (await get({ cookie: session })).status !== 409);
  const takenOver = await get({ cookie: session, ...BROWSER });
  t.equal(takenOver.status, 401, "the cookie issued for job nb's port does not open job nb-8888");
  t.match(takenOver.body, /<h1>Log in<\/h1>/, 'the browser gets the login page');
  t.match(String(takenOver.headers['set-cookie']), /^jobgate=;/, 'and the cookie is cleared');
  t.same(intruder.received, [], 'the new upstream received nothing: no identity headers, no assertion');

  const relogged = await loginCookie(h.url, HOST, value);
  t.equal((await get({ cookie: relogged })).json().name, 'intruder', 'a new login opens job nb-8888 as such');
});
