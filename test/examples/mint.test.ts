import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { parseToken, TOKEN_LENGTH } from '../../src/tokens/format.js';
import { TokenStore } from '../../src/tokens/store.js';
import { runCli } from '../helpers/cli.js';
import { RedisServer } from '../helpers/redis.js';

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

/** Runs a script as an admin would, with only PATH and the two documented variables. */
function run(script: string, args: string[], env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(script, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

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
      const result = await run(script, [name, 'operator', selector], { REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
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

      const renew = await runCli(['token', 'renew', parsed.id], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
      t.equal(renew.code, 0, '`jobgate token renew` works on a script-minted token');
      t.match(parseYaml(renew.stdout), { status: { version: 2 } });
      t.equal(await store.resolve(parsed), undefined, 'and the scripted value stops working');

      // Redis queued the message on this connection before the PING reply, so it has arrived.
      await subscriber.ping();
      t.same(messages.slice(0, 1), [`token:${parsed.id}`], 'the script announced the token on <prefix>invalidate');
    });

    t.test('an unscoped token with the default prefix', async (t) => {
      const result = await run(script, ['unscoped', 'read'], { REDIS_URL: server.url });
      t.equal(result.code, 0);
      const parsed = parseToken(result.stdout.trim());
      t.ok(parsed);
      if (!parsed) return;
      const store = new TokenStore(admin, new KeySpace('jobgate:'));
      t.match(await store.resolve(parsed), { name: 'unscoped', role: 'read', labelSelector: '' });
      await store.delete(parsed.id);
    });

    t.test('a password (percent-encoded) or an ACL user and password in REDIS_URL', async (t) => {
      const store = new TokenStore(lockedAdmin, new KeySpace('jobgate:'));
      const port = locked.port;
      for (const url of [`redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, `redis://minter:${MINTER_PASSWORD}@127.0.0.1:${port}/0`]) {
        const result = await run(script, ['locked', 'read'], { REDIS_URL: url });
        t.equal(result.code, 0, `exit 0 (${url.replace(/:[^:@]*@/, ':***@')})`);
        t.equal(result.stderr, '');
        const parsed = parseToken(result.stdout.trim());
        t.ok(parsed && (await store.resolve(parsed)), 'the token is in the protected Redis');
      }
      const wrong = await run(script, ['locked', 'read'], { REDIS_URL: `redis://:nope@127.0.0.1:${port}` });
      t.not(wrong.code, 0, 'a wrong password: non-zero exit');
      t.equal(wrong.stdout, '', 'no value printed');
    });

    t.test('usage errors and an unreachable Redis: non-zero exit, no value printed', async (t) => {
      const tooFew = await run(script, ['only-a-name'], { REDIS_URL: server.url });
      t.not(tooFew.code, 0, 'too few arguments');
      t.equal(tooFew.stdout, '');
      t.match(tooFew.stderr, /usage/);
      const down = await run(script, ['x', 'read'], { REDIS_URL: dead.url });
      t.not(down.code, 0, 'Redis down');
      t.equal(down.stdout, '', 'no value is printed when nothing was written');
      t.match(down.stderr, /mint-token: /);
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
    const result = await run(SCRIPTS.bash, ['shimmed', 'read'], { REDIS_URL: url, PATH: `${dir}:${process.env.PATH ?? ''}` });
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
