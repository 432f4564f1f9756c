import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { loadSettings } from '../../src/config/load.js';
import { SETTINGS, type SettingName, type Settings } from '../../src/config/settings.js';
import { InputError } from '../../src/errors.js';
import { errorOf } from '../helpers/errors.js';

const SHIPPED_CONFIG = fileURLToPath(new URL('../../config/jobgate.yaml', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'jobgate-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function configFile(text: string): string {
  files += 1;
  const path = join(dir, `config-${files}.yaml`);
  writeFileSync(path, text);
  return path;
}

const NAMES = Object.keys(SETTINGS) as SettingName[];

/**
 * Every default as a user meets it, written out here rather than read from SETTINGS: the table
 * the loader reads cannot vouch for itself. These are the values README.md's settings table and
 * config/jobgate.yaml promise; changing one is a change users notice, so it must show up here.
 */
const KNOWN_DEFAULTS: Settings = {
  redisUrl: 'redis://127.0.0.1:6379',
  redisUsername: undefined,
  redisPassword: undefined,
  redisSentinels: undefined,
  redisSentinelName: 'mymaster',
  redisSentinelPassword: undefined,
  redisClusterNodes: undefined,
  // Unset by default: redisTopology() resolves it (jobgate:, or {jobgate}: on Redis Cluster).
  keyPrefix: undefined,
  listen: { host: '0.0.0.0', port: 8080 },
  adminListen: { host: '127.0.0.1', port: 9090 },
  jobDomain: undefined,
  sidecarJob: undefined,
  sidecarUpstream: undefined,
  trustedHops: 0,
  keepAuthorization: false,
  upstreamCookieDomain: 'remove',
  upstreamTimeoutMs: 60_000,
  redisTimeoutMs: 500,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  maxHeaderBytes: 16_384,
  maxHeaders: 100,
  apiHost: undefined,
  lastUseIntervalMs: 60_000,
  controlHost: undefined,
  apiUpstream: undefined,
  apiMaxBodyBytes: 1_048_576,
  apiRules: undefined,
  cacheSize: 10_000,
  // 5 s: a change made without its invalidation message is seen at the latest after this long.
  cacheTtlMs: 5000,
  negativeCacheTtlMs: 1000,
  outageGraceMs: 0,
  authFailureLimit: 60,
  // Unset: a random key per process, with a warning at start-up.
  cookieSecret: undefined,
  sessionTtlSeconds: 43_200,
  publicScheme: undefined,
  assertionIssuer: 'jobgate',
  assertionAlg: 'ES256',
  assertionKeys: undefined,
  assertionKeyFiles: undefined,
  authzListen: undefined,
  authzTrusted: [
    { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '::1', prefix: 128, family: 'ipv6' },
  ],
  drainTimeoutMs: 10_000,
  logLevel: 'info',
};

/** A value that no setting accepts (spaces, no colon, not a number, not a URL). */
const GARBAGE = 'not valid at all!';

t.test('defaults, with no sources at all', async (t) => {
  const defaults = loadSettings();
  t.same(Object.keys(defaults).sort(), Object.keys(KNOWN_DEFAULTS).sort(), 'every setting is present, and only those pinned here');
  for (const name of NAMES) {
    const expected = KNOWN_DEFAULTS[name];
    if (expected === undefined) t.equal(defaults[name], undefined, `${name} has no default`);
    else t.same(defaults[name], expected, `${name} defaults to ${JSON.stringify(expected)}`);
  }
  // The ones the README's settings table and the issue name, spelled out.
  t.equal(defaults.authFailureLimit, 60, 'JOBGATE_AUTH_FAILURE_LIMIT: 60 failures per minute per address');
  t.equal(defaults.cacheTtlMs, 5000, 'JOBGATE_CACHE_TTL_MS: 5 s');
  t.equal(defaults.cacheSize, 10_000, 'JOBGATE_CACHE_SIZE: 10,000 entries per cache');
  t.same(loadSettings({}), defaults);
  t.same(loadSettings({ env: {}, flags: {} }), defaults);
});

t.test('loadSettings reads only the env it is given, not process.env', async (t) => {
  const saved = process.env.JOBGATE_LOG_LEVEL;
  process.env.JOBGATE_LOG_LEVEL = 'debug';
  try {
    t.equal(loadSettings({ env: {} }).logLevel, 'info');
  } finally {
    if (saved === undefined) delete process.env.JOBGATE_LOG_LEVEL;
    else process.env.JOBGATE_LOG_LEVEL = saved;
  }
});

t.test('precedence: flag > env > file > default', async (t) => {
  const file = configFile('redisUrl: redis://file:1\nkeyPrefix: "file:"\nlogLevel: warn\ntrustedHops: 3\n');
  const env = { JOBGATE_REDIS_URL: 'redis://env:2', JOBGATE_KEY_PREFIX: 'env:', JOBGATE_TRUSTED_HOPS: '4' };
  const flags = { redisUrl: 'redis://flag:3' };

  const all = loadSettings({ file, env, flags });
  t.equal(all.redisUrl, 'redis://flag:3', 'flag beats env and file');
  t.equal(all.keyPrefix, 'env:', 'env beats file');
  t.equal(all.trustedHops, 4, 'env beats file');
  t.equal(all.logLevel, 'warn', 'file beats default');
  t.equal(all.maxHeaders, 100, 'default when nothing is set');

  t.equal(loadSettings({ file, env }).redisUrl, 'redis://env:2');
  t.equal(loadSettings({ file }).redisUrl, 'redis://file:1');
  t.equal(loadSettings({ file, env, flags: { redisUrl: undefined } }).redisUrl, 'redis://env:2', 'an undefined flag is unset');
  t.equal(loadSettings({ file, flags: { keyPrefix: 'flag:' } }).keyPrefix, 'flag:');
});

t.test('an empty environment value counts as unset', async (t) => {
  const file = configFile('logLevel: error\nlisten: "127.0.0.1:8000"\n');
  const settings = loadSettings({ file, env: { JOBGATE_LOG_LEVEL: '', JOBGATE_LISTEN: '', JOBGATE_REDIS_URL: '' } });
  t.equal(settings.logLevel, 'error', 'falls back to the file');
  t.same(settings.listen, { host: '127.0.0.1', port: 8000 });
  t.equal(settings.redisUrl, KNOWN_DEFAULTS.redisUrl, 'falls back to the default');
});

t.test('every setting is read from its environment variable', async (t) => {
  const env = {
    JOBGATE_REDIS_URL: 'rediss://:secret@redis.internal:6380/2',
    JOBGATE_KEY_PREFIX: '{jobgate}:',
    JOBGATE_LISTEN: '[::]:8443',
    JOBGATE_ADMIN_LISTEN: '127.0.0.1:9999',
    JOBGATE_JOB_DOMAIN: 'Job.Example.COM',
    JOBGATE_SIDECAR_JOB: 'my-job',
    JOBGATE_SIDECAR_UPSTREAM: 'http://127.0.0.1:8888',
    JOBGATE_TRUSTED_HOPS: '2',
    JOBGATE_KEEP_AUTHORIZATION: 'true',
    JOBGATE_UPSTREAM_TIMEOUT_MS: '1000',
    JOBGATE_REDIS_TIMEOUT_MS: '900',
    JOBGATE_HEADERS_TIMEOUT_MS: '5000',
    JOBGATE_REQUEST_TIMEOUT_MS: '60000',
    JOBGATE_MAX_HEADER_BYTES: '4096',
    JOBGATE_MAX_HEADERS: '16',
    JOBGATE_LOG_LEVEL: 'silent',
  };
  t.match(loadSettings({ env }), {
    redisUrl: 'rediss://:secret@redis.internal:6380/2',
    keyPrefix: '{jobgate}:',
    listen: { host: '::', port: 8443 },
    adminListen: { host: '127.0.0.1', port: 9999 },
    jobDomain: 'job.example.com',
    sidecarJob: 'my-job',
    sidecarUpstream: 'http://127.0.0.1:8888',
    trustedHops: 2,
    keepAuthorization: true,
    upstreamTimeoutMs: 1000,
    redisTimeoutMs: 900,
    headersTimeoutMs: 5000,
    requestTimeoutMs: 60_000,
    maxHeaderBytes: 4096,
    maxHeaders: 16,
    logLevel: 'silent',
  });
  t.equal(loadSettings({ env: { JOBGATE_KEEP_AUTHORIZATION: '0' } }).keepAuthorization, false);
  t.match(loadSettings({ env: { JOBGATE_CACHE_TTL_MS: '250', JOBGATE_OUTAGE_GRACE_MS: '30000' } }), { cacheTtlMs: 250, outageGraceMs: 30_000 });
});

t.test('every setting reads its own environment variable and says what it accepts', async (t) => {
  for (const name of NAMES) {
    const setting = SETTINGS[name];
    t.match(setting.env, /^JOBGATE_[A-Z_]+$/, `${name}: the variable is JOBGATE_*`);
    const error = errorOf(() => loadSettings({ env: { [setting.env]: GARBAGE } }));
    t.type(error, InputError, setting.env);
    const secret = 'secret' in setting && setting.secret === true;
    if (secret) t.notMatch(error.message, GARBAGE, `${setting.env}: a secret is never echoed`);
    t.equal(
      error.message,
      `invalid setting ${setting.env}: ${secret ? 'the value (not shown: it may hold a secret)' : JSON.stringify(GARBAGE)} is not accepted; expected ${setting.accepts}`,
      `${setting.env}: the message names the variable, the value and what is accepted`,
    );
    if (setting.default !== undefined) {
      t.same(
        loadSettings({ env: { [setting.env]: String(setting.default) } })[name],
        loadSettings()[name],
        `${setting.env}=${String(setting.default)} is the default`,
      );
    }
  }
  t.same(new Set(NAMES.map((name) => SETTINGS[name].env)).size, NAMES.length, 'no two settings share a variable');
  t.equal(loadSettings({ env: { JOBGATE_KEEP_AUTHORIZATION: '1' } }).keepAuthorization, true);
});

t.test('YAML types in the file: numbers, booleans and quoted strings', async (t) => {
  const file = configFile('trustedHops: 1\nkeepAuthorization: true\nmaxHeaders: "20"\njobDomain: jobs.example.org\n');
  t.match(loadSettings({ file }), { trustedHops: 1, keepAuthorization: true, maxHeaders: 20, jobDomain: 'jobs.example.org' });
  t.same(loadSettings({ file: configFile('') }), loadSettings(), 'an empty file');
  t.same(loadSettings({ file: configFile('# only comments\n') }), loadSettings(), 'a file with only comments');
  t.same(loadSettings({ file: configFile('jobDomain:\nlogLevel: ~\n') }), loadSettings(), 'a key with no value is unset');
});

t.test('invalid values name the setting and what it accepts', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ JOBGATE_LISTEN: 'abc' }, /JOBGATE_LISTEN.*"abc".*host:port/],
    [{ JOBGATE_LISTEN: ':8080' }, /JOBGATE_LISTEN.*host:port/],
    [{ JOBGATE_LISTEN: '0.0.0.0:99999' }, /JOBGATE_LISTEN.*host:port/],
    [{ JOBGATE_ADMIN_LISTEN: '0.0.0.0:http' }, /JOBGATE_ADMIN_LISTEN.*host:port/],
    [{ JOBGATE_REDIS_TIMEOUT_MS: '5000' }, /JOBGATE_REDIS_TIMEOUT_MS.*"5000".*from 50 to 900/],
    [{ JOBGATE_REDIS_TIMEOUT_MS: '10' }, /JOBGATE_REDIS_TIMEOUT_MS.*from 50 to 900/],
    [{ JOBGATE_LOG_LEVEL: 'loud' }, /JOBGATE_LOG_LEVEL.*"loud".*fatal, error, warn, info, debug, trace, silent/],
    [{ JOBGATE_REDIS_URL: 'http://127.0.0.1:6379' }, /JOBGATE_REDIS_URL.*redis:\/\/ or rediss:\/\//],
    [{ JOBGATE_REDIS_URL: 'localhost:6379' }, /JOBGATE_REDIS_URL/],
    [{ JOBGATE_KEY_PREFIX: 'has space' }, /JOBGATE_KEY_PREFIX.*printable characters without spaces/],
    [{ JOBGATE_KEY_PREFIX: 'x'.repeat(65) }, /JOBGATE_KEY_PREFIX/],
    [{ JOBGATE_JOB_DOMAIN: 'not a domain' }, /JOBGATE_JOB_DOMAIN.*DNS name/],
    [{ JOBGATE_JOB_DOMAIN: '-bad.example.com' }, /JOBGATE_JOB_DOMAIN/],
    [{ JOBGATE_SIDECAR_JOB: 'My_Job' }, /JOBGATE_SIDECAR_JOB.*job id/],
    [{ JOBGATE_SIDECAR_UPSTREAM: 'ftp://x' }, /JOBGATE_SIDECAR_UPSTREAM.*http:\/\/ or https:\/\//],
    [{ JOBGATE_TRUSTED_HOPS: '11' }, /JOBGATE_TRUSTED_HOPS.*from 0 to 10/],
    [{ JOBGATE_TRUSTED_HOPS: '1.5' }, /JOBGATE_TRUSTED_HOPS/],
    [{ JOBGATE_TRUSTED_HOPS: 'two' }, /JOBGATE_TRUSTED_HOPS/],
    [{ JOBGATE_KEEP_AUTHORIZATION: 'yes' }, /JOBGATE_KEEP_AUTHORIZATION.*true or false/],
    [{ JOBGATE_UPSTREAM_TIMEOUT_MS: '99' }, /JOBGATE_UPSTREAM_TIMEOUT_MS.*from 100 to 3600000/],
    [{ JOBGATE_HEADERS_TIMEOUT_MS: '0' }, /JOBGATE_HEADERS_TIMEOUT_MS/],
    [{ JOBGATE_REQUEST_TIMEOUT_MS: '0' }, /JOBGATE_REQUEST_TIMEOUT_MS.*0 is refused/],
    [{ JOBGATE_MAX_HEADER_BYTES: '1024' }, /JOBGATE_MAX_HEADER_BYTES.*from 4096 to 65536/],
    [{ JOBGATE_MAX_HEADERS: '1000' }, /JOBGATE_MAX_HEADERS.*from 16 to 500/],
  ];
  for (const [env, message] of cases) {
    const error = errorOf(() => loadSettings({ env }));
    t.type(error, InputError, JSON.stringify(env));
    t.match(error.message, message, JSON.stringify(env));
    t.notMatch(error.message, /\n/, 'one line');
  }
});

t.test('an invalid file value names the setting and the file; an invalid flag names the flag', async (t) => {
  const file = configFile('redisTimeoutMs: 5000\n');
  const fromFile = errorOf(() => loadSettings({ file }));
  t.type(fromFile, InputError);
  t.match(fromFile.message, /redisTimeoutMs/);
  t.match(fromFile.message, file);
  t.match(fromFile.message, /from 50 to 900/);

  const fromFlag = errorOf(() => loadSettings({ flags: { redisUrl: 'nope' } }));
  t.type(fromFlag, InputError);
  t.match(fromFlag.message, /--redis-url/);
  t.match(fromFlag.message, /redis:\/\/ or rediss:\/\//);

  t.match(errorOf(() => loadSettings({ flags: { keyPrefix: 'a b' } })).message, /--key-prefix/);
  t.match(errorOf(() => loadSettings({ file: configFile('keepAuthorization: yes\n') })).message, /keepAuthorization.*true or false/);
});

t.test('a bad API rule is named by its position and what is wrong with it, in words', async (t) => {
  const rule = { method: 'GET', path: '/v1/x', role: 'read', scope: 'any' };
  const unknownKey = errorOf(() => loadSettings({ file: configFile(`apiRules:\n  - ${JSON.stringify({ ...rule, extra: 1 })}\n`) }));
  t.type(unknownKey, InputError);
  t.match(
    unknownKey.message,
    /^invalid setting apiRules in .* \(JOBGATE_API_RULES\): .* is not accepted \(at 0: Unrecognized key: "extra"\); expected a list of/,
  );

  const emptyMethod = errorOf(() => loadSettings({ env: { JOBGATE_API_RULES: JSON.stringify([rule, { ...rule, method: '' }]) } })).message;
  t.match(emptyMethod, /\(at 1\.method: Too small: expected string to have >=1 characters\)/);

  const badPattern = errorOf(() => loadSettings({ env: { JOBGATE_API_RULES: JSON.stringify([{ ...rule, path: '/v1/x/{name}' }]) } })).message;
  t.match(badPattern, /\(at 0: segment "\{name\}": "\{id\}" is the only placeholder, and it must be a whole segment\)/);
  for (const message of [unknownKey.message, emptyMethod, badPattern]) t.notMatch(message, /Invalid input/, 'never a bare "Invalid input"');
});

t.test('only the source that wins is validated', async (t) => {
  const file = configFile('logLevel: loud\n');
  t.equal(loadSettings({ file, env: { JOBGATE_LOG_LEVEL: 'warn' } }).logLevel, 'warn', 'the env value wins, the file value is never used');
  t.throws(() => loadSettings({ file }), InputError, 'alone, the file value is refused');
});

t.test('unknown keys in the file are refused, naming the key and the known settings', async (t) => {
  const error = errorOf(() => loadSettings({ file: configFile('redis_url: redis://x:1\n') }));
  t.type(error, InputError);
  t.match(error.message, /unknown setting "redis_url"/);
  t.match(error.message, /known settings: .*redisUrl/);
  t.match(errorOf(() => loadSettings({ file: configFile('REDISURL: x\n') })).message, /unknown setting "REDISURL"/, 'keys are case-sensitive');
  t.match(
    errorOf(() => loadSettings({ file: configFile('JOBGATE_REDIS_URL: redis://x:1\n') })).message,
    /unknown setting "JOBGATE_REDIS_URL"/,
    'env names are not file keys',
  );
});

t.test('keys that only exist on Object.prototype are unknown settings too', async (t) => {
  // `key in SETTINGS` would accept these and silently ignore them.
  for (const key of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
    const file = configFile(`${JSON.stringify(key)}: 5\n`);
    t.throws(() => loadSettings({ file }), { name: 'InputError', message: `config file ${file}: unknown setting "${key}"` }, key);
  }
});

t.test('a file that is not YAML, or not a mapping', async (t) => {
  for (const text of ['redisUrl: [unclosed\n', 'a: b\n  c: d\n', '"unterminated\n', 'key: value\nkey: again\n']) {
    const path = configFile(text);
    const error = errorOf(() => loadSettings({ file: path }));
    t.type(error, InputError, JSON.stringify(text));
    t.match(error.message, `config file ${path}`, JSON.stringify(text));
    t.notMatch(error.message, /\n/, 'one line');
  }
  t.match(errorOf(() => loadSettings({ file: configFile('redisUrl: [unclosed\n') })).message, /is not valid YAML/);
  for (const text of ['- redisUrl\n- keyPrefix\n', 'just a string\n', '42\n']) {
    const error = errorOf(() => loadSettings({ file: configFile(text) }));
    t.type(error, InputError, JSON.stringify(text));
    t.match(error.message, /must be a YAML mapping/, JSON.stringify(text));
  }
});

t.test('a missing file is an InputError naming the path', async (t) => {
  const path = join(dir, 'does-not-exist.yaml');
  const error = errorOf(() => loadSettings({ file: path }));
  t.type(error, InputError);
  t.match(error.message, `cannot read config file ${path}`);
  t.match(error.message, /ENOENT/);
  t.match(errorOf(() => loadSettings({ file: dir })).message, `cannot read config file ${dir}`, 'a directory');
});

t.test('config/jobgate.yaml documents every setting and loads to the defaults', async (t) => {
  const text = readFileSync(SHIPPED_CONFIG, 'utf8');
  for (const name of NAMES) {
    const setting = SETTINGS[name];
    t.match(text, new RegExp(`^(# )?${name}:`, 'm'), `${name} has a key line`);
    t.match(text, new RegExp(`^#.*\\b${setting.env}\\b`, 'm'), `${setting.env} is named in a comment`);
    if (setting.default === undefined) {
      t.match(text, new RegExp(`^# ${name}: \\S`, 'm'), `${name} has no default: its key is commented out with an example`);
    } else {
      t.match(text, new RegExp(`^${name}: `, 'm'), `${name} is set to its default`);
    }
  }
  const parsed = parseYaml(text) as Record<string, unknown>;
  const expected = Object.fromEntries(
    Object.entries(SETTINGS)
      .filter(([, setting]) => setting.default !== undefined)
      .map(([name, setting]) => [name, setting.default]),
  );
  t.same(parsed, expected, 'the file holds exactly the defaults, as written in SETTINGS');
  t.same(loadSettings({ file: SHIPPED_CONFIG }), loadSettings(), 'loading it gives the defaults');
  t.same(loadSettings({ file: SHIPPED_CONFIG }), KNOWN_DEFAULTS, 'the documented defaults');
});

t.test('config/jobgate.yaml writes authzTrusted as the YAML list its comment promises; the string form still loads the same', async (t) => {
  const text = readFileSync(SHIPPED_CONFIG, 'utf8');
  const shipped = (parseYaml(text) as Record<string, unknown>).authzTrusted;
  t.ok(Array.isArray(shipped), `authzTrusted is a YAML list in the shipped file: ${JSON.stringify(shipped)}`);
  t.match(text, /^# JOBGATE_AUTHZ_TRUSTED: .*\(a YAML list here\)/m, 'as its comment says');
  const loopback = [
    { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '::1', prefix: 128, family: 'ipv6' },
  ];
  t.same(loadSettings({ file: SHIPPED_CONFIG }).authzTrusted, loopback, 'the shipped file loads to loopback');
  const asString = configFile(text.replace(/^authzTrusted: .*$/m, 'authzTrusted: 127.0.0.0/8,::1/128'));
  t.same(loadSettings({ file: asString }).authzTrusted, loopback, 'the comma-separated string, as earlier files wrote it');
  const asBlockList = configFile(text.replace(/^authzTrusted: .*$/m, 'authzTrusted:\n  - 127.0.0.0/8\n  - ::1/128'));
  t.same(loadSettings({ file: asBlockList }).authzTrusted, loopback, 'a block-style YAML list');
  t.same(loadSettings({ env: { JOBGATE_AUTHZ_TRUSTED: '127.0.0.0/8,::1/128' } }).authzTrusted, loopback, 'the environment');
  t.same(loadSettings().authzTrusted, loopback, 'the default');
});

t.test('the commented-out examples in config/jobgate.yaml are valid values', async (t) => {
  const text = readFileSync(SHIPPED_CONFIG, 'utf8');
  const uncommented = text.replace(/^# (jobDomain|sidecarJob|sidecarUpstream): /gm, '$1: ');
  const settings = loadSettings({ file: configFile(uncommented) });
  t.ok(settings.jobDomain, 'jobDomain example');
  t.ok(settings.sidecarJob, 'sidecarJob example');
  t.ok(settings.sidecarUpstream, 'sidecarUpstream example');
});

t.test('list settings: a YAML list or one comma-separated string, items trimmed, empty ones dropped', async (t) => {
  const secret = 'x'.repeat(32);
  const lists: Array<[SettingName, string[], string, unknown]> = [
    [
      'redisSentinels',
      ['a:1', ' b:2 '],
      ' a:1 , ,b:2,',
      [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ],
    ],
    ['redisClusterNodes', ['[::1]:7001'], '[::1]:7001,', [{ host: '::1', port: 7001 }]],
    ['apiHost', ['API.test', ''], ' , API.test', ['api.test']],
    ['assertionKeyFiles', [SHIPPED_CONFIG], ` ${SHIPPED_CONFIG} ,`, [SHIPPED_CONFIG]],
    [
      'authzTrusted',
      ['10.0.0.0/8', '::1'],
      '10.0.0.0/8,,::1',
      [
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
      ],
    ],
  ];
  for (const [name, list, text, expected] of lists) {
    t.same(loadSettings({ file: configFile(`${name}: ${JSON.stringify(list)}\n`) })[name], expected, `${name} as a YAML list`);
    t.same(loadSettings({ env: { [SETTINGS[name].env]: text } })[name], expected, `${name} as a comma-separated string`);
    for (const empty of [',', ' , ']) t.throws(() => loadSettings({ env: { [SETTINGS[name].env]: empty } }), InputError, `${name}: nothing left is refused`);
    t.throws(() => loadSettings({ file: configFile(`${name}: []\n`) }), InputError, `${name}: an empty YAML list is refused`);
  }
  t.same(loadSettings({ env: { JOBGATE_API_HOST: 'API.test, other.test' } }).apiHost, ['api.test', 'other.test'], 'API hosts, lowercased');
  for (const [given, read] of [
    ['Jobgate.Example.com', 'jobgate.example.com'],
    ['localhost', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '[::1]'],
    ['[::1]', '[::1]'],
  ])
    t.equal(loadSettings({ env: { JOBGATE_CONTROL_HOST: given } }).controlHost, read, `control host ${given}: as a Host header names it`);
  for (const bad of ['jobgate.example.com:8443', 'http://jobgate.example.com', 'a b', '[::1'])
    t.throws(() => loadSettings({ env: { JOBGATE_CONTROL_HOST: bad } }), /JOBGATE_CONTROL_HOST/, `control host ${bad} is refused`);
  t.same(loadSettings({ env: { JOBGATE_COOKIE_SECRET: ` ${secret}, ,${secret}b` } }).cookieSecret, [secret, `${secret}b`], 'cookie secrets, comma-separated');
  t.throws(() => loadSettings({ env: { JOBGATE_COOKIE_SECRET: `${secret},short` } }), InputError, 'every cookie secret has at least 32 characters');
  t.throws(
    () => loadSettings({ file: configFile(`cookieSecret: [${JSON.stringify(secret)}]\n`) }),
    InputError,
    'cookie secrets are one string, not a YAML list',
  );
});
