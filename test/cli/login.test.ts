import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { AuditEvent } from '../../src/audit/event.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';

// `jobgate login <url>` and `jobgate logout` against a real jobgate and its Redis, each test with
// its own HOME and XDG_CONFIG_HOME: the stored login, its file's modes, what is refused, and which
// registry token, job and events then reach (the audit trail's actor tells the control API, kind
// `token`, from Redis, kind `cli`).

const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: '127.0.0.1' });
t.teardown(() => h.close());

const root = await h.tokens.create({ name: 'root', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });
const keyPrefix = h.settings.keyPrefix ?? 'jobgate:';
const TOKENS = [root.value, reader.value];

/** Every run's argv and output: no token value may appear in any of them (checked at the end). */
const seen: Array<{ args: readonly string[]; result: CliResult }> = [];

/** The CLI with only `env` (and PATH): a token reaches it by environment or standard input only. */
async function cli(args: readonly string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const result = await runCli(args, env, input);
  seen.push({ args, result });
  return result;
}

interface Home {
  /** HOME and XDG_CONFIG_HOME of a user of their own. */
  readonly env: Record<string, string>;
  readonly dir: string;
  readonly file: string;
}

function home(t: Test): Home {
  const base = mkdtempSync(join(tmpdir(), 'jobgate-login-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const env = { HOME: join(base, 'home'), XDG_CONFIG_HOME: join(base, 'config') };
  const dir = join(env.XDG_CONFIG_HOME, 'jobgate');
  return { env, dir, file: join(dir, 'credentials.json') };
}

const mode = (path: string): number => statSync(path).mode & 0o777;

/** The trail's event for `action` on token `id`, read through `env`'s registry. */
async function eventFor(t: Test, env: Record<string, string>, action: string, id: string): Promise<AuditEvent | undefined> {
  const events = await cli(['events', '-o', 'json'], { ...env, JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix });
  t.equal(events.code, 0, 'the trail reads');
  return (JSON.parse(events.stdout) as AuditEvent[]).find((event) => event.action === action && event.target.id === id);
}

async function createToken(t: Test, env: Record<string, string>, name: string): Promise<string> {
  const created = await cli(['token', 'create', name, '-r', 'read', '-l', 'team=a', '-o', 'json'], env);
  t.equal(created.code, 0, `token create ${name}: exit 0`);
  t.equal(created.stderr, '', `token create ${name}: nothing on stderr`);
  return (JSON.parse(created.stdout) as { id: string }).id;
}

t.test('login stores the server and token (0600 in a 0700 directory); token, job and events then go through the server', async (t) => {
  const { env, dir, file } = home(t);
  const login = await cli(['login', h.url], env, `${root.value}\n`);
  t.equal(login.code, 0, 'login: exit 0');
  t.equal(login.stdout, '', 'login: nothing on stdout');
  t.equal(login.stderr, `jobgate: logged in to ${h.url}; the server and token are stored in ${file} (mode 0600)\n`, 'says where it stored them');
  t.equal(mode(file), 0o600, 'the file: mode 0600');
  t.equal(mode(dir), 0o700, 'its directory: mode 0700');
  t.same(readdirSync(dir), ['credentials.json'], 'no temporary file left beside it');
  t.same(JSON.parse(readFileSync(file, 'utf8')), { server: h.url, token: root.value }, 'it holds {server, token}');

  // No Redis setting at all, no JOBGATE_SERVER, no JOBGATE_TOKEN: only the stored login.
  const id = await createToken(t, env, 'via-login');
  const list = await cli(['token', 'list', '-o', 'json'], env);
  t.equal(list.code, 0, 'token list: exit 0');
  t.ok(
    (JSON.parse(list.stdout) as Array<{ id: string }>).some((token) => token.id === id),
    'token list shows it',
  );
  const jobs = await cli(['job', 'list', '-o', 'json'], env);
  t.equal(jobs.code, 0, 'job list: exit 0');
  t.match(
    await eventFor(t, {}, 'token.create', id),
    { actor: { kind: 'token', tokenId: root.record.id, tokenName: 'root' } },
    'the trail names the stored operator token',
  );
  const events = await cli(['events', '-o', 'json'], env);
  t.equal(events.code, 0, 'events through the login: exit 0');
  t.ok(
    (JSON.parse(events.stdout) as AuditEvent[]).some((event) => event.target.id === id),
    'and it shows the event',
  );
});

t.test('login reads JOBGATE_TOKEN before standard input; logout removes the file, and says when there is none', async (t) => {
  const { env, file } = home(t);
  const login = await cli(['login', `${h.url}/`], { ...env, JOBGATE_TOKEN: root.value }, 'not a token\n');
  t.equal(login.code, 0, 'login from JOBGATE_TOKEN: exit 0');
  t.same(JSON.parse(readFileSync(file, 'utf8')), { server: h.url, token: root.value }, 'the origin and the token are stored');

  const logout = await cli(['logout'], env);
  t.equal(logout.code, 0, 'logout: exit 0');
  t.equal(logout.stderr, `jobgate: logged out: removed ${file}\n`);
  t.notOk(existsSync(file), 'the file is gone');
  const again = await cli(['logout'], env);
  t.equal(again.code, 0, 'logout when logged out: exit 0');
  t.equal(again.stderr, `jobgate: not logged in: there is no ${file}\n`, 'and says so');

  const dead = `http://127.0.0.1:${await closedPort()}`;
  const other = await cli(['token', 'list'], { ...env, JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix, JOBGATE_SERVER: dead });
  t.equal(other.code, 2, 'logged out, JOBGATE_SERVER without JOBGATE_TOKEN: exit 2');
  t.match(other.stderr, /JOBGATE_SERVER needs a token: set JOBGATE_TOKEN .* or store one with jobgate login/);
});

t.test('a token the server refuses, a server that does not answer, bad input: nothing is written', async (t) => {
  const { env, dir, file } = home(t);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const wrongSecret = `${root.value.slice(0, -2)}00`;
  const cases: Array<[string, string[], Record<string, string>, string | undefined, number, RegExp]> = [
    ['a read token (403)', ['login', h.url], {}, reader.value, 1, /refused \(403 /],
    ['an unknown secret (401)', ['login', h.url], {}, wrongSecret, 1, /refused \(401 /],
    ['an unreachable server', ['login', dead], { JOBGATE_TOKEN: root.value }, undefined, 1, /cannot reach jobgate at .*ECONNREFUSED/],
    ['no token at all', ['login', h.url], {}, '', 2, /no token: JOBGATE_TOKEN is unset and standard input is empty/],
    ['not a token on standard input', ['login', h.url], {}, 'hunter2\n', 2, /standard input does not hold a jobgate token/],
    ['not a token in JOBGATE_TOKEN', ['login', h.url], { JOBGATE_TOKEN: 'hunter2' }, undefined, 2, /JOBGATE_TOKEN does not hold a jobgate token/],
    ['a token on the command line', ['--token', root.value, 'login', h.url], {}, undefined, 2, /--token is refused/],
    ['a URL with credentials', ['login', h.url.replace('http://', 'http://root:x@')], { JOBGATE_TOKEN: root.value }, undefined, 2, /carries credentials/],
    ['a URL with a query', ['login', `${h.url}/?a=b`], { JOBGATE_TOKEN: root.value }, undefined, 2, /no query/],
    ['not http', ['login', 'ftp://127.0.0.1/'], { JOBGATE_TOKEN: root.value }, undefined, 2, /expected an http or https URL/],
    ['no URL', ['login'], { JOBGATE_TOKEN: root.value }, undefined, 2, /missing required argument/],
  ];
  for (const [what, args, caseEnv, input, code, message] of cases) {
    const result = await cli(args, { ...env, ...caseEnv }, input);
    t.equal(result.code, code, `${what}: exit ${code}`);
    t.match(result.stderr, /^jobgate: [^\n]+\n$/, `${what}: one line on stderr`);
    t.match(result.stderr, message, `${what}: says why`);
    t.equal(result.stdout, '', `${what}: nothing on stdout`);
    t.notOk(existsSync(dir), `${what}: nothing written`);
  }

  t.equal((await cli(['login', h.url], env, root.value)).code, 0, 'then a good login');
  const before = readFileSync(file, 'utf8');
  t.equal((await cli(['login', h.url], env, reader.value)).code, 1, 'a refused login over it');
  t.equal(readFileSync(file, 'utf8'), before, 'leaves the stored login as it was');
  t.same(readdirSync(dir), ['credentials.json']);
});

t.test('a credentials file others can read, or that another user owns, is refused (exit 2), as ssh refuses such a key', async (t) => {
  const { env, file } = home(t);
  t.equal((await cli(['login', h.url], env, root.value)).code, 0, 'login');
  for (const loose of [0o644, 0o640, 0o604, 0o660]) {
    chmodSync(file, loose);
    const result = await cli(['token', 'list'], env);
    t.equal(result.code, 2, `mode 0${loose.toString(8)}: exit 2`);
    t.equal(
      result.stderr,
      `jobgate: ${file} is accessible by other users (mode 0${loose.toString(8)}), so it is not used: it holds a token; run chmod 600 ${file}\n`,
    );
    t.equal(result.stdout, '');
    const named = await cli(['token', 'list'], { ...env, JOBGATE_SERVER: h.url });
    t.equal(named.code, 2, `mode 0${loose.toString(8)}, JOBGATE_SERVER naming the stored server: exit 2 as well`);
  }
  chmodSync(file, 0o600);
  t.equal((await cli(['token', 'list'], env)).code, 0, 'after chmod 600 it is used');
  chmodSync(file, 0o400);
  t.equal((await cli(['token', 'list'], env)).code, 0, 'read-only for its owner is fine');

  const uid = process.getuid?.();
  if (uid === 0) {
    chmodSync(file, 0o600);
    chownSync(file, 65534, 65534);
    const result = await cli(['token', 'list'], env);
    t.equal(result.code, 2, "another user's file: exit 2");
    t.match(result.stderr, /belongs to another user \(uid 65534\), so it is not used/);
  } else t.comment('not root: the owner check is not exercised (a file cannot be given away)');
});

t.test('what wins: --server/JOBGATE_SERVER, then Redis named explicitly, then the login', async (t) => {
  const { env } = home(t);
  t.equal((await cli(['login', h.url], env, root.value)).code, 0, 'login');
  const redis = { JOBGATE_REDIS_URL: h.redisServer.url, JOBGATE_KEY_PREFIX: keyPrefix };

  const onRedis = await createToken(t, { ...env, ...redis }, 'on-redis');
  t.match(await eventFor(t, {}, 'token.create', onRedis), { actor: { kind: 'cli' } }, 'JOBGATE_REDIS_URL wins over the login: Redis, directly');
  const flagged = await createToken(t, { ...env, JOBGATE_KEY_PREFIX: keyPrefix }, 'prefix-only');
  t.match(await eventFor(t, {}, 'token.create', flagged), { actor: { kind: 'token' } }, 'JOBGATE_KEY_PREFIX alone does not name a Redis: the login');
  const viaFlag = await cli(
    ['--redis-url', h.redisServer.url, '--key-prefix', keyPrefix, 'token', 'create', 'by-flag', '-r', 'read', '-l', 'a=b', '-o', 'json'],
    env,
  );
  t.equal(viaFlag.code, 0, '--redis-url: exit 0');
  const flagId = (JSON.parse(viaFlag.stdout) as { id: string }).id;
  t.match(await eventFor(t, {}, 'token.create', flagId), { actor: { kind: 'cli' } }, '--redis-url wins over the login too');

  // JOBGATE_SERVER naming the stored server, without JOBGATE_TOKEN: the stored token; JOBGATE_REDIS_URL does not win over it.
  const sameServer = await createToken(t, { ...env, ...redis, JOBGATE_SERVER: `${h.url}/` }, 'same-server');
  t.match(await eventFor(t, {}, 'token.create', sameServer), { actor: { kind: 'token', tokenId: root.record.id } }, 'JOBGATE_SERVER with the stored token');
  // JOBGATE_TOKEN wins over the stored token: the read token is refused by the server.
  const withReader = await cli(['token', 'list'], { ...env, JOBGATE_SERVER: h.url, JOBGATE_TOKEN: reader.value });
  t.equal(withReader.code, 1, 'JOBGATE_TOKEN wins over the stored token (a read token: refused)');
  t.match(withReader.stderr, /403/);
  // Another origin (localhost is not 127.0.0.1): the stored token is not sent there.
  const elsewhere = await cli(['token', 'list'], { ...env, JOBGATE_SERVER: h.url.replace('127.0.0.1', 'localhost') });
  t.equal(elsewhere.code, 2, 'JOBGATE_SERVER naming another server, without JOBGATE_TOKEN: exit 2');
  t.match(elsewhere.stderr, /JOBGATE_SERVER needs a token/);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const flagServer = await cli(['--server', dead, 'token', 'list'], { ...env, JOBGATE_TOKEN: root.value });
  t.equal(flagServer.code, 1, '--server wins over the login');
  t.match(flagServer.stderr, new RegExp(`cannot reach jobgate at ${dead}`));
});

t.test('a malformed credentials file is refused with a way out', async (t) => {
  const { env, file } = home(t);
  t.equal((await cli(['login', h.url], env, root.value)).code, 0, 'login');
  writeFileSync(file, '{"server": "http://127.0.0.1:1"}\n', { mode: 0o600 });
  const result = await cli(['job', 'list'], env);
  t.equal(result.code, 2, 'exit 2');
  t.match(result.stderr, /does not hold a jobgate login .*jobgate logout/);
});

t.test('no token value ever appears on a command line, stdout or stderr', async (t) => {
  t.ok(seen.length > 30, `${seen.length} runs`);
  for (const { args, result } of seen)
    for (const token of TOKENS) {
      const secret = token.slice(41, 105);
      const where = `jobgate ${args.filter((arg) => !arg.includes(secret)).join(' ')}`;
      // The one exception is the case that checks --token is refused: it never got as far as running.
      if (!args.includes('--token'))
        t.notOk(
          args.some((arg) => arg.includes(secret)),
          `${where}: not in argv`,
        );
      t.notOk(result.stdout.includes(secret) || result.stderr.includes(secret), `${where}: not in its output`);
    }
});

/** A loopback port that nothing listens on (a server's, just closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
