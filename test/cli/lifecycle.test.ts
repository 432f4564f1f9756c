import t from 'tap';
import { failed, runCli, succeeded, type CliResult } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';
import { eventually } from '../helpers/wait.js';

// Issue 20's "done when": an operator runs a whole token lifecycle through `jobgate --server` with
// no Redis credentials (create, use, see last use, renew with an expiry, revoke, read the audit
// trail); then the expiry and last-use options of the CLI in both of its modes.

const up = await Upstream.start('lifecycle-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: '127.0.0.1', JOBGATE_LAST_USE_INTERVAL_MS: '1000' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
// The one token minted with Redis access: whoever installs jobgate hands it to the operator.
const root = await h.tokens.create({ name: 'root', role: 'operator' });
const keyPrefix = h.settings.keyPrefix!;

/** The CLI as the operator runs it: jobgate's URL and a token, and a Redis URL that leads nowhere. */
const server = (args: readonly string[]): Promise<CliResult> =>
  runCli(['--server', h.url, ...args], { JOBGATE_TOKEN: root.value, JOBGATE_REDIS_URL: 'redis://127.0.0.1:1' });
const direct = (args: readonly string[]): Promise<CliResult> => runCli(args, { JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix });
const json = <T>(result: CliResult): T => JSON.parse(result.stdout) as T;
const onJob = async (value: string) => (await request(h.url, { host: 'nb.job.test', path: '/', headers: bearer(value) })).status;

interface TokenDoc {
  id: string;
  spec: { name: string; expiresAt?: string };
  status: { value?: string; version: number; lastUsedAt?: string; expired?: boolean };
}

t.test('a whole token lifecycle through --server, without Redis', async (t) => {
  succeeded(t, await server(['job', 'put', 'nb', '--upstream', up.url, '-l', 'team=a']), 'job put');
  const created = await server(['token', 'create', 'ci', '-r', 'read', '-l', 'team=a', '-o', 'json']);
  succeeded(t, created, 'token create');
  const token = json<TokenDoc>(created);
  t.equal(await onJob(token.status.value!), 200, 'its value opens the job');

  await eventually('the last use to show', async () => json<TokenDoc>(await server(['token', 'get', token.id, '-o', 'json'])).status.lastUsedAt !== undefined);
  const got = json<TokenDoc>(await server(['token', 'get', 'ci', '-o', 'json']));
  t.match(got.status.lastUsedAt, /^\d{4}-\d\d-\d\dT/, 'token get shows status.lastUsedAt');
  const table = (await server(['token', 'list', '-o', 'table'])).stdout;
  t.match(table, /LAST-USED/, 'the table has the column');
  t.ok(table.includes(got.status.lastUsedAt!), 'and the time');

  const before = Date.now();
  const renewed = await server(['token', 'renew', token.id, '--expires-in', '1h', '-o', 'json']);
  succeeded(t, renewed, 'renew --expires-in 1h');
  const next = json<TokenDoc>(renewed);
  const expiresAt = Date.parse(next.spec.expiresAt!);
  t.ok(expiresAt >= before + 3_600_000 && expiresAt <= Date.now() + 3_600_000, 'expires in an hour');
  t.equal(next.status.version, 2);
  t.equal(next.status.expired, false);
  t.equal(await onJob(token.status.value!), 401, 'the old value stops working');
  t.equal(await onJob(next.status.value!), 200, 'the new one works');

  const deleted = await server(['token', 'delete', 'ci']);
  t.equal(deleted.code, 0, 'token delete (by name)');
  t.equal(deleted.stderr, `token ${token.id} deleted\n`);
  t.equal(await onJob(next.status.value!), 401, 'revoked');

  const events = json<Array<{ action: string; target: { id: string }; actor: { kind: string; tokenName?: string } }>>(await server(['events', '-o', 'json']));
  const [minted, ...steps] = events;
  t.match(minted, { action: 'token.create', target: { id: root.record.id }, actor: { kind: 'cli' } }, 'first, the operator token minted on Redis');
  t.same(
    steps.map((event) => event.action),
    ['job.put', 'token.create', 'token.renew', 'token.delete'],
    'then the audit trail of every step',
  );
  t.ok(
    steps.every((event) => event.actor.kind === 'token' && event.actor.tokenName === 'root'),
    'each by the operator token',
  );
});

t.test('--expires-in and --expires-at, in both modes', async (t) => {
  for (const [mode, cli] of [
    ['redis', direct],
    ['server', server],
  ] as const) {
    const at = await cli(['token', 'create', `at-${mode}`, '-r', 'read', '-l', 'team=a', '--expires-at', '2999-01-01T01:00:00+01:00', '-o', 'json']);
    succeeded(t, at, `${mode}: --expires-at`);
    t.equal(json<TokenDoc>(at).spec.expiresAt, '2999-01-01T00:00:00.000Z', `${mode}: stored in UTC`);
    const kept = json<TokenDoc>(await cli(['token', 'renew', json<TokenDoc>(at).id, '-o', 'json']));
    t.equal(kept.spec.expiresAt, '2999-01-01T00:00:00.000Z', `${mode}: renew without an option keeps it`);
    for (const [what, args] of [
      ['a past time', ['--expires-at', '2001-01-01T00:00:00Z']],
      ['not a time', ['--expires-at', 'tomorrow']],
      ['a bad duration', ['--expires-in', '30 days']],
      ['a zero duration', ['--expires-in', '0d']],
      ['both options', ['--expires-in', '1d', '--expires-at', '2999-01-01T00:00:00Z']],
    ] as const) {
      const result = await cli(['token', 'create', `bad-${mode}`, '-r', 'read', ...args]);
      failed(t, result, 2, `${mode}: ${what}`);
    }
  }
  const list = json<TokenDoc[]>(await direct(['token', 'list', '-o', 'json']));
  t.notOk(
    list.some((token) => token.spec.name.startsWith('bad-')),
    'a refused create wrote nothing',
  );
});

t.test('token list --unused-for: nobody used it for that long; never used counts from creation', async (t) => {
  const stale = await h.tokens.create({ name: 'stale', role: 'read' });
  const fresh = await h.tokens.create({ name: 'fresh', role: 'read' });
  const old = await h.tokens.create({ name: 'old, never used', role: 'read' });
  const dayMs = 86_400_000;
  await h.admin.zadd(`${keyPrefix}lastused:tokens`, Date.now() - 100 * dayMs, stale.record.id, Date.now(), fresh.record.id);
  await h.admin.hset(`${keyPrefix}token:${old.record.id}`, 'createdAt', new Date(Date.now() - 120 * dayMs).toISOString());
  for (const [mode, cli] of [
    ['redis', direct],
    ['server', server],
  ] as const) {
    const names = json<TokenDoc[]>(await cli(['token', 'list', '--unused-for', '90d', '-o', 'json'])).map((token) => token.spec.name);
    t.same(names.sort(), ['old, never used', 'stale'], `${mode}: the stale one and the old never-used one`);
    failed(t, await cli(['token', 'list', '--unused-for', 'ninety days']), 2, `${mode}: a bad duration`);
  }
});
