import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { parseSelector } from '../../src/selector/index.js';
import { parseToken, TOKEN_LENGTH } from '../../src/tokens/format.js';
import { TokenStore } from '../../src/tokens/store.js';
import { runCli } from '../helpers/cli.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { keysUnder, RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

const SCRIPTS = {
  bash: fileURLToPath(new URL('../../examples/mint-token.sh', import.meta.url)),
  python: fileURLToPath(new URL('../../examples/mint-token.py', import.meta.url)),
};

const server = await RedisServer.start();
const dead = await RedisServer.start();
await dead.stop();

const admin = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: false });
admin.on('error', () => {});
await connectRedis(admin, 2000);
const subscriber = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: false });
subscriber.on('error', () => {});
await connectRedis(subscriber, 2000);

// A Redis that wants a password, with an ACL user besides the default one.
const locked = await RedisServer.start();
const lockedAdmin = createRedis({ url: locked.url, commandTimeoutMs: 2000, reconnect: false });
lockedAdmin.on('error', () => {});
await connectRedis(lockedAdmin, 2000);
const PASSWORD = 'p@ss:w%rd/1';
const MINTER_PASSWORD = 'minter-only-pw';
await lockedAdmin.call('ACL', 'SETUSER', 'minter', 'on', `>${MINTER_PASSWORD}`, '~*', '&*', '+@all');
await lockedAdmin.config('SET', 'requirepass', PASSWORD);
await lockedAdmin.auth(PASSWORD);

t.teardown(async () => {
  admin.disconnect();
  subscriber.disconnect();
  lockedAdmin.disconnect();
  await server.stop();
  await locked.stop();
});

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a script as an admin would, with only PATH and the documented variables. */
function run(script: string, args: string[], env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(script, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Selectors jobgate accepts and refuses, next to each other: both scripts must agree with parseSelector on each. */
const SELECTOR_CASES = [
  ...[
    '',
    ' \t',
    'team=a',
    'team==a',
    'team!=a',
    'team=',
    '\tteam = a\n',
    'team=a, env in (dev,prod)',
    'k notin(a)',
    'k in ()',
    'k in (a,)',
    'tier',
    '!gpu',
    '! gpu',
  ],
  ...['in in (in)', 'x>1,y<2,!z', 'a > 0005', 'a<9223372036854775807', `a>${'0'.repeat(60)}123`, 'example.com/team=a', `${'a'.repeat(253)}/b=c`, 'A_b.C-d=E_f'],
  ...['team=a,,b', 'team=a,', ',team=a', 'team in (a', 'team in (a b)', 'team in a', 'teamin (a)', '=a', 'team=a b', 'team=a/b', 'a=b=c', 'a = = b', 'a ! = b'],
  ...['!', '!!a', 'a!b', 'a>b', 'a>', 'a>-5', 'a>+5', 'a<9223372036854775808', `a>${'0'.repeat(61)}123`, `x=${'a'.repeat(64)}`, '-a=b', 'a_=b', 'a=-b'],
  ...['Example.com/team=a', 'a/b/c=d', '/a=b', 'a.-b/c=d', `${'a'.repeat(254)}/b=c`, 'team=\u00e9', 'team=\u001b[2K', `team in (${'a,'.repeat(2100)}a)`],
];

let spaces = 0;
for (const [language, script] of Object.entries(SCRIPTS)) {
  t.test(`${language}: examples/${script.split('/').pop()}`, async (t) => {
    t.test('is executable', async (t) => {
      t.doesNotThrow(() => accessSync(script, constants.X_OK));
    });

    t.test('mints a token that jobgate resolves, atomically indexed and announced', async (t) => {
      spaces += 1;
      const keys = new KeySpace(`{mint${spaces}}:`);
      const store = new TokenStore(admin, keys);
      const messages: string[] = [];
      const listener = (channel: string, message: string): void => {
        if (channel === keys.channel) messages.push(message);
      };
      subscriber.on('message', listener);
      t.teardown(() => void subscriber.off('message', listener));
      await subscriber.subscribe(keys.channel);

      const name = `ci "bot" \\ it's ${language}`;
      const selector = 'team=a, env in (dev,prod)';
      const result = await run(script, [name, 'operator', selector], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
      t.equal(result.code, 0, 'exit 0');
      t.equal(result.stderr, '', 'nothing on stderr');
      t.match(result.stdout, /^jgt_\S+\n$/, 'prints the value and nothing else');
      const value = result.stdout.trim();
      t.equal(value.length, TOKEN_LENGTH);

      const parsed = parseToken(value);
      t.ok(parsed, 'the value has the documented shape and checksum');
      if (!parsed) return;
      const record = await store.resolve(parsed);
      t.match(record, { id: parsed.id, name, role: 'operator', labelSelector: selector, version: 1 }, 'TokenStore.resolve finds the record');
      t.equal(record?.createdAt, record?.updatedAt);
      t.same(
        record?.selector.requirements.map((requirement) => requirement.key),
        ['team', 'env'],
      );
      t.same(await admin.smembers(keys.tokens), [parsed.id], 'the id is in the index');
      t.same(Object.keys(await admin.hgetall(keys.token(parsed.id))).sort(), [
        'createdAt',
        'id',
        'labelSelector',
        'name',
        'role',
        'secretHash',
        'updatedAt',
        'version',
      ]);
      t.notOk(JSON.stringify(await admin.hgetall(keys.token(parsed.id))).includes(value.slice(41, 105)), 'the secret itself is not stored');

      const get = await runCli(['token', 'get', parsed.id, '-o', 'json'], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
      t.equal(get.code, 0, '`jobgate token get` works');
      t.equal(get.stderr, '');
      t.match(JSON.parse(get.stdout), { id: parsed.id, spec: { name, role: 'operator', labelSelector: selector }, status: { version: 1 } });

      const events = await runCli(['events', '-o', 'json'], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
      t.equal(events.code, 0, '`jobgate events` works');
      t.equal(events.stderr, '', 'and reads the event without a warning');
      t.same(
        (JSON.parse(events.stdout) as Array<Record<string, unknown>>).map(({ id: _id, ...event }) => event),
        [
          {
            time: record?.createdAt,
            action: 'token.create',
            target: { kind: 'token', id: parsed.id, name, labelSelector: selector },
            actor: { kind: 'cli', user: userInfo().username, host: hostname() },
          },
        ],
        'the script appended the token.create event jobgate itself writes, naming the OS user and host',
      );
      t.match(record?.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'the time as jobgate writes it, with milliseconds');
      t.notOk(events.stdout.includes(value) || events.stdout.includes(value.slice(41, 105)), 'the event holds neither the value nor its secret');
      t.equal(await admin.xlen(keys.events), 1, 'one entry in <prefix>events');

      const renew = await runCli(['token', 'renew', parsed.id], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
      t.equal(renew.code, 0, '`jobgate token renew` works on a script-minted token');
      t.match(parseYaml(renew.stdout), { status: { version: 2 } });
      t.equal(await store.resolve(parsed), undefined, 'and the scripted value stops working');

      // Redis queued the message on this connection before the PING reply, so it has arrived.
      await subscriber.ping();
      t.same(messages.slice(0, 1), [`token:${parsed.id}`], 'the script announced the token on <prefix>invalidate');
    });

    t.test('an unscoped token with the default prefix (an empty JOBGATE_KEY_PREFIX counts as unset)', async (t) => {
      const result = await run(script, ['unscoped', 'read'], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: '' });
      t.equal(result.code, 0);
      const parsed = parseToken(result.stdout.trim());
      t.ok(parsed);
      if (!parsed) return;
      const store = new TokenStore(admin, new KeySpace('jobgate:'));
      t.match(await store.resolve(parsed), { name: 'unscoped', role: 'read', labelSelector: '' });
      await store.delete(parsed.id);
    });

    t.test('a password (percent-encoded) or an ACL user and password in JOBGATE_REDIS_URL', async (t) => {
      const store = new TokenStore(lockedAdmin, new KeySpace('jobgate:'));
      const port = locked.port;
      for (const url of [`redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, `redis://minter:${MINTER_PASSWORD}@127.0.0.1:${port}/0`]) {
        const result = await run(script, ['locked', 'read'], { JOBGATE_REDIS_URL: url });
        t.equal(result.code, 0, `exit 0 (${url.replace(/:[^:@]*@/, ':***@')})`);
        t.equal(result.stderr, '');
        const parsed = parseToken(result.stdout.trim());
        t.ok(parsed && (await store.resolve(parsed)), 'the token is in the protected Redis');
      }
      const wrong = await run(script, ['locked', 'read'], { JOBGATE_REDIS_URL: `redis://:nope@127.0.0.1:${port}` });
      t.not(wrong.code, 0, 'a wrong password: non-zero exit');
      t.equal(wrong.stdout, '', 'no value printed');
    });

    t.test('usage errors and an unreachable Redis: non-zero exit, no value printed', async (t) => {
      const tooFew = await run(script, ['only-a-name'], { JOBGATE_REDIS_URL: server.url });
      t.equal(tooFew.code, 2, 'too few arguments: exit 2');
      t.equal(tooFew.stdout, '');
      t.match(tooFew.stderr, /usage/);
      const down = await run(script, ['x', 'read'], { JOBGATE_REDIS_URL: dead.url });
      t.equal(down.code, 1, 'Redis down: exit 1');
      t.equal(down.stdout, '', 'no value is printed when nothing was written');
      t.match(down.stderr, /^mint-token: [^\n]+\n$/, 'one line saying why');
    });

    t.test('what it mints works through a real jobgate: the role and the selector hold', async (t) => {
      const nbA = await Upstream.start('nb-a');
      const nbB = await Upstream.start('nb-b');
      const api = await Upstream.start('api');
      const h = await startHarness({ JOBGATE_API_HOST: 'api.test', JOBGATE_API_UPSTREAM: api.url }, server);
      t.teardown(async () => {
        await h.close();
        await Promise.all([nbA.close(), nbB.close(), api.close()]);
      });
      await h.jobs.put({ id: 'nb-a', upstream: nbA.url, labels: { team: 'a' } });
      await h.jobs.put({ id: 'nb-b', upstream: nbB.url, labels: { team: 'b' } });
      const env = { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: h.settings.keyPrefix ?? '' };

      const read = await run(script, ['team a', 'read', 'team in (a), !gpu'], env);
      t.equal(read.code, 0, 'a scoped read token');
      const readValue = read.stdout.trim();
      const own = await request(h.url, { host: 'nb-a.job.test', headers: bearer(readValue) });
      t.equal(own.status, 200, 'it opens the job its selector matches');
      t.equal(own.json().name, 'nb-a');
      t.equal((await request(h.url, { host: 'nb-b.job.test', headers: bearer(readValue) })).status, 403, "and not another team's job");
      t.equal((await request(h.url, { host: 'api.test', path: '/v1/job', headers: bearer(readValue) })).status, 403, 'nor the training API');

      const operator = await run(script, ['ci', 'operator'], env);
      t.equal(operator.code, 0, 'an unscoped operator token');
      const operatorValue = operator.stdout.trim();
      t.equal((await request(h.url, { host: 'api.test', path: '/v1/job', headers: bearer(operatorValue) })).status, 200, 'it reaches the training API');
      t.equal((await request(h.url, { host: 'nb-b.job.test', headers: bearer(operatorValue) })).status, 200, 'and every job');
    });

    t.test('JOBGATE_REDIS_URL wins over REDIS_URL, the name earlier versions read, which still works alone', async (t) => {
      const store = new TokenStore(admin, new KeySpace('jobgate:'));
      const cases: Array<[string, Record<string, string>]> = [
        ['both set', { JOBGATE_REDIS_URL: server.url, REDIS_URL: dead.url }],
        ['REDIS_URL alone', { REDIS_URL: server.url }],
        ['an empty JOBGATE_REDIS_URL counts as unset', { JOBGATE_REDIS_URL: '', REDIS_URL: server.url }],
      ];
      for (const [what, env] of cases) {
        const result = await run(script, ['fallback', 'read'], env);
        t.equal(result.code, 0, what);
        const parsed = parseToken(result.stdout.trim());
        t.ok(parsed && (await store.resolve(parsed)), `${what}: the token is in the Redis that jobgate would read`);
      }
    });

    t.test('JOBGATE_REDIS_USERNAME and JOBGATE_REDIS_PASSWORD win over the URL, as in jobgate', async (t) => {
      const store = new TokenStore(lockedAdmin, new KeySpace('jobgate:'));
      const result = await run(script, ['by-env', 'read'], {
        JOBGATE_REDIS_URL: `redis://nobody:wrong@127.0.0.1:${locked.port}`,
        JOBGATE_REDIS_USERNAME: 'minter',
        JOBGATE_REDIS_PASSWORD: MINTER_PASSWORD,
      });
      t.equal(result.code, 0, result.stderr);
      const parsed = parseToken(result.stdout.trim());
      t.ok(parsed && (await store.resolve(parsed)), 'the token is in the protected Redis');
    });

    t.test('bad input: exit 2, one line naming the problem, no value printed, nothing written', async (t) => {
      spaces += 1;
      const keys = new KeySpace(`{bad${spaces}}:`);
      const base = { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix };
      const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
        ['an unknown role', ['bad', 'admin'], {}, /ROLE "admin" is not accepted: expected read .* or operator/],
        ['a role in capitals', ['x', 'Read'], {}, /ROLE "Read" is not accepted/],
        ['an empty name', ['', 'read'], {}, /NAME must be 1 to 128 characters/],
        ['a name of 129 characters', ['n'.repeat(129), 'read'], {}, /NAME must be 1 to 128 characters/],
        ['a name of 128 characters but 129 UTF-16 units, as jobgate counts', [`${'n'.repeat(127)}\u{1F600}`, 'read'], {}, /NAME must be 1 to 128/],
        ['a control character in the name', ['tab\there', 'read'], {}, /without control characters/],
        ['an empty requirement', ['x', 'read', 'team=a,,b'], {}, /SELECTOR "team=a,,b" is not a label selector jobgate accepts/],
        ['an unclosed list', ['x', 'read', 'team in (a'], {}, /SELECTOR .* is not a label selector/],
        ['a value with a slash', ['x', 'read', 'team=a/b'], {}, /SELECTOR .* is not a label selector/],
        ['a comparison with a word', ['x', 'read', 'gpus>many'], {}, /SELECTOR .* is not a label selector/],
        ['a key prefix with a space', ['x', 'read'], { JOBGATE_KEY_PREFIX: 'has space' }, /JOBGATE_KEY_PREFIX "has space" is not accepted/],
        [
          'a URL that is not redis://',
          ['x', 'read'],
          { JOBGATE_REDIS_URL: 'http://user:sekret@127.0.0.1:6379' },
          /JOBGATE_REDIS_URL is not accepted \(not shown/,
        ],
        ['a database path that is not a number', ['x', 'read'], { JOBGATE_REDIS_URL: `${server.url}/zero` }, /JOBGATE_REDIS_URL is not accepted/],
        [
          'Redis Cluster',
          ['x', 'read'],
          { JOBGATE_REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
          /JOBGATE_REDIS_CLUSTER_NODES is set, but this script writes to one Redis server/,
        ],
        ['Redis Sentinel', ['x', 'read'], { JOBGATE_REDIS_SENTINELS: '127.0.0.1:26379' }, /JOBGATE_REDIS_SENTINELS is set/],
      ];
      for (const [what, args, env, message] of cases) {
        const result = await run(script, args, { ...base, ...env });
        t.equal(result.code, 2, `${what}: exit 2`);
        t.equal(result.stdout, '', `${what}: no value printed`);
        t.match(result.stderr, /^mint-token: [^\n]+\n$/, `${what}: one line on stderr`);
        t.match(result.stderr, message, `${what}: says what is wrong`);
        t.notMatch(result.stderr, /sekret/, `${what}: a password is never echoed`);
      }
      t.same(await keysUnder(admin, keys), [], 'nothing was written under the prefix');
      t.same(await keysUnder(admin, new KeySpace('has space')), []);

      const wide = await run(script, ['\u00e9'.repeat(128), 'read'], base);
      t.equal(wide.code, 0, 'a name of 128 characters of two bytes each is accepted, as jobgate accepts it');
      const parsed = parseToken(wide.stdout.trim());
      t.match(parsed && (await new TokenStore(admin, keys).resolve(parsed)), { name: '\u00e9'.repeat(128) });
    });

    t.test('the selector is refused exactly when jobgate refuses it', async (t) => {
      // Against a Redis that is down: a selector the script accepts gets as far as Redis (exit 1), one it refuses stops at exit 2.
      for (const selector of SELECTOR_CASES) {
        let accepted = true;
        try {
          parseSelector(selector);
        } catch {
          accepted = false;
        }
        const result = await run(script, ['x', 'read', selector], { JOBGATE_REDIS_URL: dead.url });
        t.equal(result.code, accepted ? 1 : 2, `${JSON.stringify(selector)}: ${accepted ? 'accepted' : 'refused'}, as jobgate does`);
      }
    });
  });
}

t.test('bash: the Redis password goes to redis-cli by environment (REDISCLI_AUTH), never on its command line', async (t) => {
  const realCli = execFileSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'mint-shim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A redis-cli in front of the real one that writes down what every user of the machine could see.
  writeFileSync(
    join(dir, 'redis-cli'),
    `#!/bin/sh\nprintf '%s\\n' "$0" "$@" >> '${dir}/argv'\nprintf '%s\\n' "\${REDISCLI_AUTH-}" >> '${dir}/auth'\nexec '${realCli}' "$@"\n`,
  );
  chmodSync(join(dir, 'redis-cli'), 0o755);
  const store = new TokenStore(lockedAdmin, new KeySpace('jobgate:'));
  const cases = [
    { url: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${locked.port}`, password: PASSWORD, user: undefined },
    { url: `redis://minter:${MINTER_PASSWORD}@127.0.0.1:${locked.port}`, password: MINTER_PASSWORD, user: 'minter' },
  ];
  for (const { url, password, user } of cases) {
    rmSync(join(dir, 'argv'), { force: true });
    rmSync(join(dir, 'auth'), { force: true });
    const result = await run(SCRIPTS.bash, ['shimmed', 'read'], { JOBGATE_REDIS_URL: url, PATH: `${dir}:${process.env.PATH ?? ''}` });
    t.equal(result.code, 0, `exit 0 (${user ?? 'default user'})`);
    const parsed = parseToken(result.stdout.trim());
    t.ok(parsed && (await store.resolve(parsed)), 'the token is in the protected Redis');
    const argv = readFileSync(join(dir, 'argv'), 'utf8');
    t.ok(argv.length > 0, 'redis-cli ran through the shim');
    t.notOk(argv.includes(password) || argv.includes(encodeURIComponent(password)), `no password on the command line: ${JSON.stringify(argv)}`);
    t.same(readFileSync(join(dir, 'auth'), 'utf8'), `${password}\n`, 'the password, decoded, in REDISCLI_AUTH');
    if (user) t.match(argv, new RegExp(`\\n--user\\n${user}\\n`), 'the user by --user');
  }
});
