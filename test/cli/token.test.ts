import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { parse as parseYaml } from 'yaml';
import { withStores } from '../../src/cli/stores.js';
import { loadSettings } from '../../src/config/load.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { mintToken, parseToken, TOKEN_LENGTH, type ParsedToken } from '../../src/tokens/format.js';
import { TokenStore } from '../../src/tokens/store.js';
import { failed, hiddenCharacters, runCli, runCliInTerminal, succeeded, type CliResult } from '../helpers/cli.js';
import { keysUnder, RedisServer } from '../helpers/redis.js';

// The CLI runs from bin/jobgate.js, which loads dist/: `npm run build` first (npm test does).

const server = await RedisServer.start();
// A server that is gone: its port is closed, as when Redis is down.
const dead = await RedisServer.start();
await dead.stop();

const admin = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: false });
admin.on('error', () => {});
await connectRedis(admin, 2000);

const dir = mkdtempSync(join(tmpdir(), 'jobgate-cli-token-'));

t.teardown(async () => {
  admin.disconnect();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

let spaces = 0;
/** A fresh key prefix and the environment that points the CLI at it. */
function fresh(): { keys: KeySpace; env: Record<string, string>; store: TokenStore } {
  spaces += 1;
  const keys = new KeySpace(`cli-token-${spaces}:`);
  return { keys, env: { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix }, store: new TokenStore(admin, keys) };
}

function mustParse(value: string): ParsedToken {
  const parsed = parseToken(value);
  if (!parsed) throw new Error(`not a token value: ${JSON.stringify(value)}`);
  return parsed;
}

interface PrintedToken {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { name: string; role: string; labelSelector: string };
  status: { version: number; value?: string };
}

t.test('create prints the token as YAML by default, once with its value', async (t) => {
  const keys = new KeySpace('jobgate:');
  const result = await runCli(['token', 'create', 'ci bot', '--role', 'operator', '-l', 'team=a'], { JOBGATE_REDIS_URL: server.url });
  succeeded(t, result, 'create');
  t.throws(() => {
    JSON.parse(result.stdout);
  }, 'the default output is not JSON');
  const printed = parseYaml(result.stdout) as PrintedToken;
  t.same(Object.keys(printed), ['id', 'createdAt', 'updatedAt', 'spec', 'status']);
  t.same(printed.spec, { name: 'ci bot', role: 'operator', labelSelector: 'team=a' });
  t.same(Object.keys(printed.status), ['version', 'value']);
  t.equal(printed.status.version, 1);
  t.equal(printed.createdAt, printed.updatedAt);
  t.match(printed.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  const value = printed.status.value ?? '';
  t.equal(value.length, TOKEN_LENGTH);
  const parsed = parseToken(value);
  t.equal(parsed?.id, printed.id, 'the value belongs to the printed id');

  // The default key prefix is jobgate:, and the value resolves to the record.
  t.match(await admin.hgetall(keys.token(printed.id)), { id: printed.id, name: 'ci bot', role: 'operator', labelSelector: 'team=a', version: '1' });
  t.ok((await admin.smembers(keys.tokens)).includes(printed.id));
  t.match(parsed && (await new TokenStore(admin, keys).resolve(parsed)), { id: printed.id, name: 'ci bot' });
  await new TokenStore(admin, keys).delete(printed.id);
});

t.test('-o json prints one JSON document', async (t) => {
  const { env, store } = fresh();
  const result = await runCli(['token', 'create', 'reader', '-r', 'read', '-l', 'team=a', '-o', 'json'], env);
  succeeded(t, result, 'create -o json');
  const printed = JSON.parse(result.stdout) as PrintedToken;
  t.same(printed.spec, { name: 'reader', role: 'read', labelSelector: 'team=a' });
  t.equal(printed.status.version, 1);
  t.match(await store.resolve(mustParse(printed.status.value ?? '')), { id: printed.id, role: 'read' });
  const long = await runCli(['token', 'create', 'reader', '-r', 'read', '-l', 'team=a', '--output', 'json'], env);
  succeeded(t, long, 'create --output json');
  t.ok(JSON.parse(long.stdout));
});

const UNSCOPED = 'jobgate: warning: this token reaches every job; scope it with -l\n';

t.test('create without -l says on stderr that the token reaches every job; stdout stays the document', async (t) => {
  const { env, store } = fresh();
  for (const [what, args] of [
    ['no -l, JSON', ['-o', 'json']],
    ['no -l, YAML', []],
    ['an empty -l', ['-l', ' ', '-o', 'json']],
  ] as const) {
    const result = await runCli(['token', 'create', 'everywhere', '-r', 'operator', ...args], env);
    t.equal(result.code, 0, `${what}: exit 0`);
    t.equal(result.stderr, UNSCOPED, `${what}: the warning, alone on stderr`);
    const printed = ((args as readonly string[]).includes('json') ? JSON.parse(result.stdout) : parseYaml(result.stdout)) as PrintedToken;
    t.same(printed.spec, { name: 'everywhere', role: 'operator', labelSelector: '' }, `${what}: the unscoped token, as before`);
    t.match(await store.resolve(mustParse(printed.status.value ?? '')), { id: printed.id }, `${what}: its value works`);
  }
  succeeded(t, await runCli(['token', 'create', 'scoped', '-r', 'read', '-l', 'team=a'], env), 'with a selector: no warning');
});

t.test('list and get never print the value', async (t) => {
  const { env } = fresh();
  const created: PrintedToken[] = [];
  for (const [name, role, selector] of [
    ['a', 'read', 'team=a'],
    ['b', 'operator', ''],
    ['c', 'read', 'env in (dev,prod)'],
  ]) {
    const result = await runCli(['token', 'create', name as string, '-r', role as string, '-l', selector as string, '-o', 'json'], env);
    created.push(JSON.parse(result.stdout) as PrintedToken);
  }

  const list = await runCli(['token', 'list', '-o', 'json'], env);
  succeeded(t, list, 'list');
  const listed = JSON.parse(list.stdout) as PrintedToken[];
  t.ok(Array.isArray(listed), 'a JSON array');
  t.same(
    listed.map((token) => token.id),
    created.map((token) => token.id).sort(),
    'every token, sorted by id',
  );
  for (const token of listed) {
    t.same(token.status, { version: 1 }, `${token.spec.name}: no value in list`);
    const original = created.find((c) => c.id === token.id);
    t.same(token.spec, original?.spec);
  }
  t.notOk(list.stdout.includes('jgt_'), 'no value anywhere in the output');

  const yamlList = await runCli(['token', 'list'], env);
  succeeded(t, yamlList, 'list as YAML');
  t.same(parseYaml(yamlList.stdout), listed, 'YAML and JSON say the same');

  const first = created[0] as PrintedToken;
  const get = await runCli(['token', 'get', first.id], env);
  succeeded(t, get, 'get');
  t.same(parseYaml(get.stdout), { ...first, status: { version: 1 } }, 'get prints the record without its value');
  t.notOk(get.stdout.includes('jgt_'));
});

t.test('an empty registry lists as an empty array', async (t) => {
  const { env } = fresh();
  const json = await runCli(['token', 'list', '-o', 'json'], env);
  succeeded(t, json, 'list');
  t.same(JSON.parse(json.stdout), []);
  t.same(parseYaml((await runCli(['token', 'list'], env)).stdout), []);
});

t.test('renew prints a new value and version 2; the old value stops working', async (t) => {
  const { env, store } = fresh();
  const created = JSON.parse((await runCli(['token', 'create', 'renewable', '-r', 'read', '-l', 'team=a', '-o', 'json'], env)).stdout) as PrintedToken;
  const oldValue = created.status.value ?? '';
  const renew = await runCli(['token', 'renew', created.id, '-o', 'json'], env);
  succeeded(t, renew, 'renew');
  const renewed = JSON.parse(renew.stdout) as PrintedToken;
  t.equal(renewed.id, created.id, 'same id');
  t.same(renewed.spec, created.spec, 'same name, role and selector');
  t.equal(renewed.status.version, 2);
  t.equal(renewed.createdAt, created.createdAt);
  const newValue = renewed.status.value ?? '';
  t.not(newValue, oldValue, 'a new value');
  t.equal(parseToken(newValue)?.id, created.id);

  t.equal(await store.resolve(mustParse(oldValue)), undefined, 'the old value no longer resolves');
  t.match(await store.resolve(mustParse(newValue)), { id: created.id, version: 2 }, 'the new value resolves');

  const yaml = await runCli(['token', 'renew', created.id], env);
  succeeded(t, yaml, 'renew as YAML');
  t.match(parseYaml(yaml.stdout), { id: created.id, status: { version: 3, value: /^jgt_/ } });
});

t.test('delete, then get, renew and delete again fail with "not found"', async (t) => {
  const { env, keys, store } = fresh();
  const created = JSON.parse((await runCli(['token', 'create', 'doomed', '-r', 'read', '-o', 'json'], env)).stdout) as PrintedToken;
  const deleted = await runCli(['token', 'delete', created.id], env);
  t.equal(deleted.code, 0, 'delete: exit 0');
  t.equal(deleted.stdout, '');
  t.equal(deleted.stderr, `token ${created.id} deleted\n`);
  t.same(await keysUnder(admin, keys), [keys.events], 'the hash and the index entry are gone (the audit trail keeps the create and the delete)');
  t.equal(await store.resolve(mustParse(created.status.value ?? '')), undefined, 'the value stops working');
  for (const command of ['get', 'renew', 'delete']) {
    const result = await runCli(['token', command, created.id], env);
    failed(t, result, 1, command);
    t.match(result.stderr, 'not found', command);
    t.match(result.stderr, created.id, command);
  }
});

t.test('bad input: exit 2, one line on stderr, nothing written', async (t) => {
  const { env, keys } = fresh();
  const sizeBefore = await admin.dbsize();
  const cases: Array<[string, string[], Record<string, string>?]> = [
    ['bad role', ['token', 'create', 'x', '-r', 'admin']],
    ['bad selector', ['token', 'create', 'x', '-r', 'read', '-l', 'a in (b']],
    ['empty name', ['token', 'create', '', '-r', 'read']],
    ['name with a newline', ['token', 'create', 'a\nb', '-r', 'read']],
    ['missing name', ['token', 'create', '-r', 'read']],
    ['missing role', ['token', 'create', 'x']],
    ['bad output format', ['token', 'create', 'x', '-r', 'read', '-o', 'xml']],
    ['unknown option', ['token', 'create', 'x', '-r', 'read', '--bogus']],
    ['mistyped option', ['token', 'create', 'x', '--rol', 'read']],
    ['mistyped option, no name', ['token', 'create', '--rol', 'read']],
    ['unknown command', ['token', 'frobnicate']],
    ['neither id nor name for get', ['token', 'get', 'a\u0007b']],
    ['neither id nor name for delete', ['token', 'delete', '']],
    ['bad id for renew', ['token', 'renew', 'nope']],
    ['missing id', ['token', 'get']],
    ['bad --redis-url', ['--redis-url', 'http://127.0.0.1:6379', 'token', 'create', 'x', '-r', 'read']],
    ['bad JOBGATE_REDIS_URL', ['token', 'create', 'x', '-r', 'read'], { JOBGATE_REDIS_URL: 'not a url' }],
    ['bad unrelated setting', ['token', 'create', 'x', '-r', 'read'], { JOBGATE_LOG_LEVEL: 'loud' }],
  ];
  const results = await Promise.all(cases.map(([, args, extraEnv]) => runCli(args, { ...env, ...extraEnv })));
  cases.forEach(([what], i) => failed(t, results[i] as CliResult, 2, what));
  const stderrOf = (what: string): string => results[cases.findIndex(([name]) => name === what)]?.stderr ?? '';
  t.match(stderrOf('bad role'), /admin.*read, operator/, 'the message lists the roles');
  t.match(stderrOf('bad selector'), /label selector/, 'the message names the selector');
  t.match(stderrOf('neither id nor name for get'), 'invalid token id or name "a\\u0007b": the name contains a control character');
  t.match(stderrOf('neither id nor name for delete'), 'invalid token id or name "": the name is empty');
  t.match(stderrOf('bad id for renew'), /invalid token id "nope"/);
  t.match(stderrOf('missing name'), /missing required argument 'name'/);
  t.equal(stderrOf('missing role'), "jobgate: required option '-r, --role <role>' not specified\n");
  // The mistyped option is what is wrong, not the --role it was meant to be.
  t.equal(stderrOf('mistyped option'), "jobgate: unknown option '--rol' (Did you mean --role?)\n");
  t.equal(stderrOf('mistyped option, no name'), "jobgate: unknown option '--rol' (Did you mean --role?)\n");
  t.match(stderrOf('bad JOBGATE_REDIS_URL'), /JOBGATE_REDIS_URL/, 'a bad setting is named');
  t.same(await keysUnder(admin, keys), [], 'nothing under the prefix');
  t.equal(await admin.dbsize(), sizeBefore, 'nothing anywhere in Redis');
});

t.test('bad input is reported as such even when Redis is down', async (t) => {
  const env = { JOBGATE_REDIS_URL: dead.url };
  failed(t, await runCli(['token', 'create', 'x', '-r', 'admin'], env), 2, 'bad role');
  failed(t, await runCli(['token', 'get', ''], env), 2, 'neither id nor name');
});

t.test('Redis unreachable: exit 1 with one line', async (t) => {
  const env = { JOBGATE_REDIS_URL: dead.url };
  const cases = [
    ['token', 'list'],
    ['token', 'create', 'x', '-r', 'read'],
    ['token', 'renew', mintToken().id],
  ];
  const results = await Promise.all(cases.map((args) => runCli(args, env)));
  for (const [i, args] of cases.entries()) {
    const result = results[i] as CliResult;
    failed(t, result, 1, args.join(' '));
    t.match(result.stderr, `cannot reach Redis at 127.0.0.1:${dead.port}`, args.join(' '));
  }
  const withPassword = await runCli(['token', 'list'], { JOBGATE_REDIS_URL: `redis://:hunter2@127.0.0.1:${dead.port}` });
  failed(t, withPassword, 1, 'with a password');
  t.notMatch(withPassword.stderr, 'hunter2', 'the password is not printed');
});

t.test('Redis unreachable: the CLI leaves no timer or socket behind, so the process exits once it has said so', async (t) => {
  // A closed port refuses the connection at once; a connect timer (2 s) or a reconnect left
  // pending would keep the process alive after the message. Checked on the handles themselves,
  // not on a clock, so a busy machine cannot make it pass or fail.
  const timers = () => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
  const sockets = () => process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
  const before = { timers: timers(), sockets: sockets() };
  const settings = loadSettings({ env: { JOBGATE_REDIS_URL: dead.url } });
  await t.rejects(
    withStores(settings, (stores) => stores.tokens.list()),
    { message: new RegExp(`cannot reach Redis at 127.0.0.1:${dead.port}`) },
  );
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(timers(), before.timers, 'no timer left pending');
  t.equal(sockets(), before.sockets, 'no socket left open');
});

t.test('--redis-url and --key-prefix override the environment', async (t) => {
  const { keys } = fresh();
  const ok = await runCli(['--redis-url', server.url, 'token', 'create', 'flagged', '-r', 'read', '-l', 'team=a', '-o', 'json'], {
    JOBGATE_REDIS_URL: dead.url,
    JOBGATE_KEY_PREFIX: keys.prefix,
  });
  succeeded(t, ok, 'flag pointing at the live server');
  const id = (JSON.parse(ok.stdout) as PrintedToken).id;
  t.equal(await admin.sismember(keys.tokens, id), 1, 'written to the live server');

  const refused = await runCli(['--redis-url', dead.url, 'token', 'list'], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix });
  failed(t, refused, 1, 'flag pointing at the dead server');
  t.match(refused.stderr, `127.0.0.1:${dead.port}`);

  const other = new KeySpace(`${keys.prefix}other:`);
  const prefixed = await runCli(['--key-prefix', other.prefix, 'token', 'list', '-o', 'json'], {
    JOBGATE_REDIS_URL: server.url,
    JOBGATE_KEY_PREFIX: keys.prefix,
  });
  succeeded(t, prefixed, '--key-prefix');
  t.same(JSON.parse(prefixed.stdout), [], 'the flag prefix wins over JOBGATE_KEY_PREFIX');
});

t.test('--config reads the settings from a YAML file, below the environment', async (t) => {
  const { keys } = fresh();
  const file = join(dir, 'jobgate.yaml');
  writeFileSync(file, `redisUrl: ${server.url}\nkeyPrefix: "${keys.prefix}"\n`);
  const created = await runCli(['--config', file, 'token', 'create', 'from-file', '-r', 'read', '-l', 'team=a', '-o', 'json']);
  succeeded(t, created, 'create with --config');
  t.equal(await admin.sismember(keys.tokens, (JSON.parse(created.stdout) as PrintedToken).id), 1);
  failed(t, await runCli(['--config', file, 'token', 'list'], { JOBGATE_REDIS_URL: dead.url }), 1, 'the environment beats the file');
});

t.test('a malformed record in list: a warning line, the others still printed', async (t) => {
  const { env, keys } = fresh();
  const good = JSON.parse((await runCli(['token', 'create', 'good', '-r', 'read', '-o', 'json'], env)).stdout) as PrintedToken;
  const bad = mintToken().id;
  await admin
    .multi()
    .hset(keys.token(bad), {
      id: bad,
      name: 'bad',
      role: 'root',
      labelSelector: '',
      secretHash: 'ab'.repeat(32),
      version: '1',
      createdAt: good.createdAt,
      updatedAt: good.createdAt,
    })
    .sadd(keys.tokens, bad)
    .exec();

  const list = await runCli(['token', 'list', '-o', 'json'], env);
  t.equal(list.code, 0, 'list still succeeds');
  t.match(list.stderr, /^jobgate: warning: [^\n]*\n$/, 'exactly one warning line');
  t.match(list.stderr, keys.token(bad), 'the warning names the key');
  t.match(list.stderr, /role "root"/, 'and the problem');
  t.same(
    (JSON.parse(list.stdout) as PrintedToken[]).map((token) => token.id),
    [good.id],
    'the valid token is printed',
  );

  const get = await runCli(['token', 'get', bad], env);
  failed(t, get, 1, 'get of the malformed record');
  t.match(get.stderr, `malformed record ${keys.token(bad)}`);
  const renew = await runCli(['token', 'renew', bad], env);
  failed(t, renew, 1, 'renew of the malformed record');
  t.equal(await admin.hget(keys.token(bad), 'version'), '1', 'renew wrote nothing');
});

t.test('hostile records: list and get print no control or bidi character, and the output reads back exactly', async (t) => {
  const { env, keys } = fresh();
  const at = '2024-01-01T00:00:00.000Z';
  const fields = { labelSelector: '', secretHash: 'ab'.repeat(32), version: '1', createdAt: at, updatedAt: at };
  // A valid record: a name may hold C1 controls and format characters (only C0 and DEL are refused).
  const named = mintToken().id;
  const hostileName = 'ops\u202eexe.txt\u2066 \u009b2J\u0085\u200b\u2028x\u{e0041}\u00ad';
  // Malformed records whose warnings would quote an escape sequence: in a field, and in the key.
  const badRole = mintToken().id;
  const badSelector = mintToken().id;
  const badVersion = mintToken().id;
  const badKeyId = 'x\u001b]0;pwned\u0007\r\njobgate: warning: forged';
  await admin
    .multi()
    .hset(keys.token(named), { id: named, name: hostileName, role: 'read', ...fields })
    .hset(keys.token(badRole), { id: badRole, name: 'r', role: '\u001b[2K\rread\u0007\nok', ...fields })
    .hset(keys.token(badSelector), { id: badSelector, name: 's', role: 'read', ...fields, labelSelector: 'team\u202e=a\u009b' })
    .hset(keys.token(badVersion), { id: badVersion, name: 'v', role: 'read', ...fields, version: '1\u001b[8m\b\u007f' })
    .hset(keys.token(badKeyId), { id: badKeyId, name: 'k', role: 'read', ...fields })
    .sadd(keys.tokens, named, badRole, badSelector, badVersion, badKeyId)
    .exec();
  const expected = [{ id: named, createdAt: at, updatedAt: at, spec: { name: hostileName, role: 'read', labelSelector: '' }, status: { version: 1 } }];

  const [json, yaml, get] = await Promise.all([
    runCli(['token', 'list', '-o', 'json'], env),
    runCli(['token', 'list'], env),
    runCli(['token', 'get', badRole], env),
  ]);
  for (const [what, result] of [
    ['list -o json', json],
    ['list', yaml],
    ['get', get],
  ] as const) {
    t.same(hiddenCharacters(result.stdout), [], `${what}: no control or bidi character on stdout`);
    t.same(hiddenCharacters(result.stderr), [], `${what}: none on stderr`);
  }
  t.equal(json.code, 0, 'list -o json: exit 0');
  t.same(JSON.parse(json.stdout), expected, 'the JSON reads back to the stored name, exactly');
  t.equal(yaml.code, 0, 'list: exit 0');
  t.same(parseYaml(yaml.stdout), expected, 'the YAML reads back to the stored name, exactly');
  t.ok(/^ {4}name: "[^\n]*"$/m.test(yaml.stdout), 'the name is one double-quoted line');

  const warnings = json.stderr.split('\n');
  t.equal(warnings.pop(), '', 'the warnings end with a line break');
  t.equal(warnings.length, 4, 'one line per malformed record, however many line breaks they hold');
  t.ok(
    warnings.every((line) => line.startsWith('jobgate: warning: skipped malformed record ')),
    'each line is a whole warning',
  );
  t.ok(yaml.stderr === json.stderr, 'the same warnings for YAML');
  t.ok(
    warnings.some((line) => line.includes(`${keys.token(badRole)}: role "\\u001b[2K\\rread\\u0007\\nok"`)),
    'the role is shown with its escapes',
  );
  t.ok(
    warnings.some((line) => line.includes('version "1\\u001b[8m\\b\\u007f"')),
    'and the version',
  );
  t.ok(
    warnings.some((line) => line.includes('team\\u202e')),
    'and the selector',
  );
  t.ok(
    warnings.some((line) => line.includes(`${keys.prefix}token:x\\u001b]0;pwned\\u0007\\r\\njobgate: warning: forged`)),
    'and the key',
  );

  // Checked without printing the output: raw, it would garble the test report.
  t.equal(get.code, 1, 'get of a malformed record: exit 1');
  t.ok(/^jobgate: [^\n]+\n$/.test(get.stderr), 'get: exactly one line on stderr');
  t.equal(get.stdout, '', 'get: nothing on stdout');
  t.ok(get.stderr.includes(`role "\\u001b[2K\\rread\\u0007\\nok"`), 'the error line shows the role with its escapes');
});

t.test('--help on every command exits 0 and prints its usage', async (t) => {
  const commands = [[], ['token'], ['token', 'create'], ['token', 'list'], ['token', 'get'], ['token', 'renew'], ['token', 'delete'], ['serve']];
  const results = await Promise.all(commands.map((command) => runCli([...command, '--help'])));
  for (const [i, command] of commands.entries()) {
    const result = results[i] as CliResult;
    succeeded(t, result, `${command.join(' ')} --help`);
    t.match(result.stdout, new RegExp(`^Usage: ${['jobgate', ...command].join(' ')} `), `${command.join(' ')} --help prints its usage`);
  }
  const create = await runCli(['token', 'create', '--help']);
  t.match(create.stdout, /--role/);
  t.match(create.stdout, /--label-selector/);
  t.match(create.stdout, /--output/);
  const help = await runCli(['help', 'token']);
  t.equal(help.code, 0, 'help token');
  t.match(help.stdout, /^Usage: jobgate token /);
  const bare = await runCli([]);
  t.equal(bare.code, 0, 'no arguments prints the help');
  t.match(bare.stdout, /^Usage: jobgate /);
});

const SHOWN_ONCE =
  /^jobgate: the value \(status\.value\) is shown only once, here: keep it now; a lost value cannot be read back, only replaced by `jobgate token renew ([0-9a-f-]{36})`$/m;

t.test('create and renew say on a terminal that the value is shown only once; not when stderr is a pipe', async (t) => {
  const { env, store } = fresh();
  // Not a terminal: scripts get the document and an empty stderr.
  const piped = await runCli(['token', 'create', 'piped', '-r', 'read', '-l', 'team=a', '-o', 'json'], env);
  succeeded(t, piped, 'create, stderr a pipe');
  const pipedId = (JSON.parse(piped.stdout) as PrintedToken).id;
  succeeded(t, await runCli(['token', 'renew', pipedId], env), 'renew, stderr a pipe');

  // A terminal, with the document sent to a file, as in `jobgate token create ... > token.yaml`.
  const created = await runCliInTerminal(['token', 'create', 'typed', '-r', 'read', '-l', 'team=a'], env, 'stdout');
  t.equal(created.code, 0, 'create: exit 0');
  const printed = parseYaml(created.file) as PrintedToken;
  t.match(await store.resolve(mustParse(printed.status.value ?? '')), { id: printed.id }, 'the file holds the token and its value');
  t.equal(created.terminal.match(SHOWN_ONCE)?.[1], printed.id, 'the terminal is told, with the command that replaces the value');
  t.equal(created.terminal.split('\n').length, 2, 'in one line');
  t.notMatch(created.terminal, 'jgt_', 'the value itself stays in the file');

  const renewed = await runCliInTerminal(['token', 'renew', printed.id, '-o', 'json'], env, 'stdout');
  t.equal(renewed.code, 0, 'renew: exit 0');
  t.equal((JSON.parse(renewed.file) as PrintedToken).status.version, 2, 'the file holds the renewed token');
  t.equal(renewed.terminal.match(SHOWN_ONCE)?.[1], printed.id, 'renew says it too');

  const unscoped = await runCliInTerminal(['token', 'create', 'wide', '-r', 'read'], env, 'stdout');
  t.match(unscoped.terminal, SHOWN_ONCE, 'without -l: the note');
  t.match(unscoped.terminal, UNSCOPED, 'and the warning');

  const listed = await runCliInTerminal(['token', 'list'], env, 'stdout');
  t.equal(listed.terminal, '', 'list says nothing of the kind');
});

/** The cells of a table, cut at the columns that its header starts; checks that every row keeps to them. */
function tableCells(t: Test, text: string): string[][] {
  t.equal(text.at(-1), '\n', 'the table ends with a line break');
  const [header = '', ...rows] = text.slice(0, -1).split('\n');
  const starts = [...header.matchAll(/\S+/g)].map((match) => match.index);
  const cut = (line: string) => starts.map((start, i) => line.slice(start, starts[i + 1]).trimEnd());
  for (const row of rows) {
    t.ok(
      starts.every((start) => start === 0 || row[start - 1] === ' '),
      `every column starts where its header does: ${row}`,
    );
  }
  return [cut(header), ...rows.map(cut)];
}

t.test('-o table on list and get: aligned columns, id, name, role, selector, created, expiry, last use; no colour off a terminal', async (t) => {
  const { env } = fresh();
  const created: PrintedToken[] = [];
  for (const [name, role, selector] of [
    ['ci', 'operator', ''],
    ['alice the analyst', 'read', 'team=a'],
    ['b', 'read', 'env in (dev,prod),team!=x'],
  ] as const) {
    created.push(JSON.parse((await runCli(['token', 'create', name, '-r', role, '-l', selector, '-o', 'json'], env)).stdout) as PrintedToken);
  }
  const list = await runCli(['token', 'list', '-o', 'table'], env);
  succeeded(t, list, 'list -o table');
  t.notMatch(list.stdout, '\u001b', 'no escape sequence: stdout is a pipe');
  t.notMatch(list.stdout, 'jgt_', 'no value');
  const byId = [...created].sort((a, b) => a.id.localeCompare(b.id));
  t.same(tableCells(t, list.stdout), [
    ['ID', 'NAME', 'ROLE', 'SELECTOR', 'CREATED', 'EXPIRES', 'LAST-USED'],
    ...byId.map((token) => [token.id, token.spec.name, token.spec.role, token.spec.labelSelector || '<every job>', token.createdAt, '<never>', '<never>']),
  ]);
  const alice = created[1]!;
  const widest = 'alice the analyst'.length;
  t.equal(
    list.stdout.split('\n')[0],
    `ID${' '.repeat(36 - 2)}   NAME${' '.repeat(widest - 4)}   ROLE${' '.repeat('operator'.length - 4)}   SELECTOR${' '.repeat('env in (dev,prod),team!=x'.length - 8)}   CREATED${' '.repeat(24 - 7)}   EXPIRES   LAST-USED`,
    'each column as wide as its widest cell, three spaces apart',
  );

  for (const reference of [alice.id, 'alice the analyst']) {
    const get = await runCli(['token', 'get', reference, '-o', 'table'], env);
    succeeded(t, get, `get ${reference} -o table`);
    t.equal(
      get.stdout,
      `ID${' '.repeat(34)}   NAME${' '.repeat(13)}   ROLE   SELECTOR   CREATED${' '.repeat(17)}   EXPIRES   LAST-USED\n${alice.id}   alice the analyst   read   team=a     ${alice.createdAt}   <never>   <never>\n`,
      'one row under its header',
    );
  }
  t.same(
    parseYaml((await runCli(['token', 'list'], env)).stdout),
    byId.map((token) => ({ ...token, status: { version: 1 } })),
    'YAML stays the default',
  );
  const empty = fresh();
  t.equal(
    (await runCli(['token', 'list', '-o', 'table'], empty.env)).stdout,
    'ID   NAME   ROLE   SELECTOR   CREATED   EXPIRES   LAST-USED\n',
    'no token: the header alone',
  );

  const refused = await runCli(['token', 'create', 'x', '-r', 'read', '-o', 'table'], env);
  failed(t, refused, 2, 'create -o table');
  t.match(refused.stderr, 'Allowed choices are yaml, json', 'create prints a document, whose value a script reads');
});

t.test('-o table on a terminal: a bold header, unless NO_COLOR or TERM=dumb; the cells never carry escapes', async (t) => {
  const { env, keys } = fresh();
  const hostile = mintToken().id;
  const at = '2024-01-01T00:00:00.000Z';
  await admin
    .multi()
    .hset(keys.token(hostile), {
      id: hostile,
      name: 'ops\u202eexe\u009b2J\u0085x',
      role: 'read',
      labelSelector: '',
      secretHash: 'ab'.repeat(32),
      version: '1',
      createdAt: at,
      updatedAt: at,
    })
    .sadd(keys.tokens, hostile)
    .exec();
  const bold = await runCliInTerminal(['token', 'list', '-o', 'table'], env, 'stderr');
  t.equal(bold.code, 0);
  const [header, row] = bold.terminal.split('\n');
  t.equal(
    header,
    `\u001b[1mID${' '.repeat(34)}   NAME${' '.repeat('ops\\u202eexe\\u009b2J\\u0085x'.length - 4)}   ROLE   SELECTOR      CREATED${' '.repeat(17)}   EXPIRES   LAST-USED\u001b[0m`,
    'the header is bold',
  );
  t.equal(row, `${hostile}   ops\\u202eexe\\u009b2J\\u0085x   read   <every job>   ${at}   <never>   <never>`, 'the name is shown escaped, on its row');
  t.equal(bold.file, '', 'nothing on stderr');
  const plainTerminals: Array<Record<string, string>> = [{ NO_COLOR: '1' }, { TERM: 'dumb' }];
  for (const plain of plainTerminals) {
    const result = await runCliInTerminal(['token', 'list', '-o', 'table'], { ...env, ...plain }, 'stderr');
    t.equal(result.terminal, `${header!.slice(4, -4)}\n${row}\n`, `${JSON.stringify(plain)}: the same table without escapes`);
  }
});

t.test('get and delete take a name when one token has it; ids keep working and win over names', async (t) => {
  const { env, keys, store } = fresh();
  const create = async (name: string, selector = 'team=a') =>
    JSON.parse((await runCli(['token', 'create', name, '-r', 'read', '-l', selector, '-o', 'json'], env)).stdout) as PrintedToken;
  const alice = await create('alice');
  const twins = [await create('twin'), await create('twin')];
  // A token named after another token's id: the id names that other token.
  const impostor = await create(alice.id, 'team=b');

  const byName = await runCli(['token', 'get', 'alice', '-o', 'json'], env);
  succeeded(t, byName, 'get by name');
  t.same(JSON.parse(byName.stdout), { ...alice, status: { version: 1 } }, 'the token named alice, without its value');

  const byId = await runCli(['token', 'get', alice.id, '-o', 'json'], env);
  succeeded(t, byId, 'get by id');
  t.equal((JSON.parse(byId.stdout) as PrintedToken).id, alice.id, 'the id wins over a token of that name');

  const ambiguous = await runCli(['token', 'get', 'twin'], env);
  failed(t, ambiguous, 2, 'get of an ambiguous name');
  const twinIds = twins.map((token) => token.id).sort();
  t.equal(ambiguous.stderr, `jobgate: 2 tokens are named "twin": ${twinIds.join(', ')}; give the id instead\n`, 'the matching ids are listed');
  const ambiguousDelete = await runCli(['token', 'delete', 'twin'], env);
  failed(t, ambiguousDelete, 2, 'delete of an ambiguous name');
  t.equal(ambiguousDelete.stderr, ambiguous.stderr);
  t.same((await store.ids()).length, 4, 'nothing deleted');

  const unknown = await runCli(['token', 'get', 'nobody'], env);
  failed(t, unknown, 1, 'an unknown name');
  t.equal(unknown.stderr, 'jobgate: token "nobody" not found: no token has that id or name\n');
  const upper = mintToken().id.toUpperCase();
  const uppercase = await runCli(['token', 'delete', upper], env);
  failed(t, uppercase, 1, 'an id in uppercase');
  t.equal(uppercase.stderr, `jobgate: token "${upper}" not found: no token has that id or name (a token id is written in lowercase)\n`);

  // Deleting alice by id leaves the impostor, which is then reached by its name.
  const deleted = await runCli(['token', 'delete', alice.id], env);
  t.equal(deleted.stderr, `token ${alice.id} deleted\n`, 'delete by id');
  t.equal(await admin.exists(keys.token(alice.id)), 0);
  const impostorGet = await runCli(['token', 'get', alice.id, '-o', 'json'], env);
  succeeded(t, impostorGet, 'the id of no token: the token of that name');
  t.equal((JSON.parse(impostorGet.stdout) as PrintedToken).id, impostor.id);

  const deletedByName = await runCli(['token', 'delete', 'twin'], env);
  t.equal(deletedByName.code, 2, 'still ambiguous');
  await store.delete(twins[0]!.id);
  const single = await runCli(['token', 'delete', 'twin'], env);
  t.equal(single.code, 0, 'delete by a name that is now unique: exit 0');
  t.equal(single.stdout, '');
  t.equal(single.stderr, `token ${twins[1]!.id} deleted\n`, 'names the id it deleted');
  t.equal(await admin.exists(keys.token(twins[1]!.id)), 0, 'and the token is gone');
  t.equal(await store.resolve(mustParse(twins[1]!.status.value ?? '')), undefined, 'its value stops working');
  const again = await runCli(['token', 'delete', 'twin'], env);
  failed(t, again, 1, 'delete by name again');
  t.match(again.stderr, 'not found');
});
