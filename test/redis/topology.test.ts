import { Cluster, Redis } from 'ioredis';
import t from 'tap';
import { loadSettings } from '../../src/config/load.js';
import { InputError } from '../../src/errors.js';
import {
  connectRedis,
  createRedisClient,
  describeRedisClient,
  describeTopology,
  hasHashTag,
  redisTopology,
  type RedisSettings,
} from '../../src/redis/index.js';
import { runCli } from '../helpers/cli.js';
import { errorOf } from '../helpers/errors.js';
import { freePort } from '../helpers/redis.js';

// The CLI runs from bin/jobgate.js, which loads dist/: `npm run build` first (npm test does).

const NODES = [
  { host: '127.0.0.1', port: 7001 },
  { host: '127.0.0.1', port: 7002 },
];
const SENTINELS = [{ host: '127.0.0.1', port: 26379 }];
const base: RedisSettings = { redisUrl: 'redis://127.0.0.1:6379' };

t.test('standalone: the URL gives host, port, database, TLS and credentials; the prefix defaults to jobgate:', async (t) => {
  t.match(redisTopology(base), {
    kind: 'standalone',
    host: '127.0.0.1',
    port: 6379,
    db: 0,
    tls: false,
    username: undefined,
    password: undefined,
    keyPrefix: 'jobgate:',
  });
  t.match(redisTopology({ redisUrl: 'rediss://alice:s%40cret@redis.internal:6380/3' }), {
    kind: 'standalone',
    host: 'redis.internal',
    port: 6380,
    db: 3,
    tls: true,
    username: 'alice',
    password: 's@cret',
  });
  t.match(redisTopology({ redisUrl: 'redis://:only-password@[::1]' }), { host: '::1', port: 6379, username: undefined, password: 'only-password' });
  t.equal(redisTopology({ ...base, keyPrefix: 'mine:' }).keyPrefix, 'mine:', 'an explicit prefix is kept');
  t.throws(() => redisTopology({ redisUrl: 'redis://127.0.0.1/zero' }), InputError, 'a path that is not a database number');
});

t.test('credentials: JOBGATE_REDIS_USERNAME / JOBGATE_REDIS_PASSWORD win over the URL userinfo', async (t) => {
  const url = 'redis://url-user:url-pass@127.0.0.1:6379';
  t.match(redisTopology({ redisUrl: url }), { username: 'url-user', password: 'url-pass' }, 'the URL alone');
  t.match(redisTopology({ redisUrl: url, redisPassword: 'setting-pass' }), { username: 'url-user', password: 'setting-pass' }, 'the password setting wins');
  t.match(redisTopology({ redisUrl: url, redisUsername: 'setting-user' }), { username: 'setting-user', password: 'url-pass' }, 'the user setting wins');
  t.match(redisTopology({ ...base, redisUsername: 'u', redisPassword: 'p' }), { username: 'u', password: 'p' }, 'settings without userinfo');
  // The same from the environment.
  const settings = loadSettings({ env: { JOBGATE_REDIS_URL: url, JOBGATE_REDIS_PASSWORD: 'env-pass', JOBGATE_REDIS_CLUSTER_NODES: '127.0.0.1:7001' } });
  t.match(redisTopology(settings), { kind: 'cluster', username: 'url-user', password: 'env-pass', keyPrefix: '{jobgate}:' });
  t.match(
    redisTopology({ ...base, redisUrl: 'rediss://u:p@10.0.0.1:6379', redisClusterNodes: NODES }),
    { kind: 'cluster', tls: true, nodes: NODES },
    'TLS from the scheme on every topology',
  );
});

t.test('Sentinel and Cluster together are refused, naming both settings', async (t) => {
  const error = errorOf(() => redisTopology({ ...base, redisSentinels: SENTINELS, redisClusterNodes: NODES }));
  t.type(error, InputError);
  t.match(error.message, /JOBGATE_REDIS_SENTINELS/);
  t.match(error.message, /JOBGATE_REDIS_CLUSTER_NODES/);
  t.notMatch(error.message, /\n/, 'one line');
});

t.test('Cluster: the prefix defaults to {jobgate}:, and an explicit one needs a hash tag', async (t) => {
  t.match(redisTopology({ ...base, redisClusterNodes: NODES }), { kind: 'cluster', nodes: NODES, keyPrefix: '{jobgate}:' });
  for (const prefix of ['{jobgate}:', '{a}', 'x{tenant-1}:', '{a}b{c}:', '}{a}:']) {
    t.equal(redisTopology({ ...base, redisClusterNodes: NODES, keyPrefix: prefix }).keyPrefix, prefix, `${prefix} is accepted`);
  }
  for (const prefix of ['jobgate:', '{}:', '{jobgate:', 'jobgate}:', '{}{a}:']) {
    const error = errorOf(() => redisTopology({ ...base, redisClusterNodes: NODES, keyPrefix: prefix }));
    t.type(error, InputError, `${prefix} is refused`);
    t.match(error.message, /^invalid setting JOBGATE_KEY_PREFIX: .* has no hash tag/, `${prefix}: the message names the setting`);
  }
  // Redis hashes on what lies between the first { and the first } after it, when that is not empty.
  t.notOk(hasHashTag('{}{a}:'), 'an empty first tag: the whole key is hashed');
  t.ok(hasHashTag('}{a}:'), 'a } before the first { does not matter');
  const db = errorOf(() => redisTopology({ redisUrl: 'redis://127.0.0.1:6379/2', redisClusterNodes: NODES }));
  t.match(db.message, /JOBGATE_REDIS_URL.*database 2/, 'Cluster has only database 0');
});

t.test('Sentinel: addresses, master name, Sentinel password', async (t) => {
  const settings = loadSettings({
    env: {
      JOBGATE_REDIS_SENTINELS: '127.0.0.1:26379, [::1]:26380,sentinel.internal:26381',
      JOBGATE_REDIS_SENTINEL_PASSWORD: 'sentinel-pass',
      JOBGATE_REDIS_PASSWORD: 'redis-pass',
    },
  });
  t.match(redisTopology(settings), {
    kind: 'sentinel',
    name: 'mymaster',
    sentinels: [
      { host: '127.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
      { host: 'sentinel.internal', port: 26381 },
    ],
    sentinelPassword: 'sentinel-pass',
    password: 'redis-pass',
    keyPrefix: 'jobgate:',
  });
  t.equal(redisTopology(loadSettings({ env: { JOBGATE_REDIS_SENTINELS: '127.0.0.1:26379', JOBGATE_REDIS_SENTINEL_NAME: 'other' } })).kind, 'sentinel');
  t.match(redisTopology(loadSettings({ file: undefined, env: { JOBGATE_REDIS_SENTINELS: '127.0.0.1:26379', JOBGATE_REDIS_SENTINEL_NAME: 'other' } })), {
    name: 'other',
  });
  const orphan = errorOf(() => redisTopology({ ...base, redisSentinelPassword: 'x' }));
  t.match(orphan.message, /JOBGATE_REDIS_SENTINEL_PASSWORD.*JOBGATE_REDIS_SENTINELS/, 'a Sentinel password without Sentinels');
  for (const bad of ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', 'a b:1', ',', 'host:port']) {
    for (const env of ['JOBGATE_REDIS_SENTINELS', 'JOBGATE_REDIS_CLUSTER_NODES']) {
      const error = errorOf(() => loadSettings({ env: { [env]: bad } }));
      t.type(error, InputError, `${env}=${bad}`);
      t.match(error.message, new RegExp(`^invalid setting ${env}: .*host:port`), `${env}=${bad}: names the setting`);
    }
  }
});

t.test('passwords never appear in messages or descriptions', async (t) => {
  const secret = 'Sup3rSecret-pw';
  const settings: RedisSettings = { redisUrl: `redis://user:${secret}@127.0.0.1:6379/1`, redisPassword: secret, redisSentinelPassword: secret };
  const messages = [
    errorOf(() => redisTopology({ ...settings, redisClusterNodes: NODES, redisSentinels: SENTINELS })).message,
    errorOf(() => redisTopology({ ...settings, redisSentinelPassword: undefined, redisClusterNodes: NODES, keyPrefix: 'x:' })).message,
    errorOf(() => redisTopology({ ...settings, redisSentinelPassword: undefined, redisClusterNodes: NODES })).message,
    errorOf(() => redisTopology(settings)).message,
  ];
  for (const topology of [
    redisTopology({ ...settings, redisSentinels: SENTINELS }),
    redisTopology({ ...settings, redisSentinelPassword: undefined }),
    redisTopology({ ...settings, redisUrl: `redis://user:${secret}@127.0.0.1:6379`, redisSentinelPassword: undefined, redisClusterNodes: NODES }),
  ]) {
    messages.push(describeTopology(topology));
    const client = createRedisClient({ topology, commandTimeoutMs: 500 }, 'cli');
    messages.push(describeRedisClient(client));
    client.disconnect();
  }
  for (const message of messages) t.notMatch(message, secret, message);
});

t.test('createRedisClient: one factory, fail-fast options for every topology', async (t) => {
  const standalone = createRedisClient({ topology: redisTopology({ redisUrl: 'rediss://u:p@127.0.0.1:6390/2' }), commandTimeoutMs: 300 }, 'commands');
  t.ok(standalone instanceof Redis);
  t.match((standalone as Redis).options, {
    host: '127.0.0.1',
    port: 6390,
    db: 2,
    username: 'u',
    password: 'p',
    tls: {},
    enableOfflineQueue: false,
    commandTimeout: 300,
    lazyConnect: true,
    autoResubscribe: true,
  });
  t.equal(standalone.status, 'wait', 'lazy: nothing is connected yet');

  const sentinel = createRedisClient(
    { topology: redisTopology({ ...base, redisSentinels: SENTINELS, redisSentinelPassword: 'sp' }), commandTimeoutMs: 300 },
    'subscriber',
  );
  t.match((sentinel as Redis).options, {
    sentinels: SENTINELS,
    name: 'mymaster',
    sentinelPassword: 'sp',
    role: 'master',
    failoverDetector: true,
    enableOfflineQueue: false,
    autoResubscribe: false,
  });

  const cluster = createRedisClient({ topology: redisTopology({ ...base, redisClusterNodes: NODES }), commandTimeoutMs: 300 }, 'commands');
  t.ok(cluster instanceof Cluster);
  t.match((cluster as Cluster).options, { enableOfflineQueue: false, redisOptions: { commandTimeout: 300, maxRetriesPerRequest: 0 } });
  t.match(describeRedisClient(cluster), 'Redis Cluster 127.0.0.1:7001,127.0.0.1:7002');

  const cli = createRedisClient({ topology: redisTopology(base), commandTimeoutMs: 2000 }, 'cli');
  t.equal((cli as Redis).options.retryStrategy?.(1), null, 'the CLI does not reconnect');
  for (const client of [standalone, sentinel, cluster, cli]) client.disconnect();
});

t.test('an unreachable Cluster fails the connection in time, naming the nodes and not the password', async (t) => {
  const port = await freePort();
  const topology = redisTopology({ redisUrl: 'redis://u:hidden-pass@127.0.0.1', redisClusterNodes: [{ host: '127.0.0.1', port }] });
  const client = createRedisClient({ topology, commandTimeoutMs: 300 }, 'cli');
  client.on('error', () => {});
  const error = await connectRedis(client, 1000).then(
    () => undefined,
    (caught: unknown) => caught as Error,
  );
  t.ok(error, 'connecting fails');
  t.match(error?.message, `cannot reach Redis at Redis Cluster 127.0.0.1:${port}`);
  t.notMatch(error?.message, /hidden-pass/);
});

t.test('the CLI and serve exit 2 with one line for impossible Redis settings', async (t) => {
  const both = { JOBGATE_REDIS_SENTINELS: '127.0.0.1:26379', JOBGATE_REDIS_CLUSTER_NODES: '127.0.0.1:7001' };
  const list = await runCli(['token', 'list'], both);
  t.equal(list.code, 2, 'token list: exit 2');
  t.equal(list.stdout, '', 'nothing on stdout');
  t.match(list.stderr, /^jobgate: invalid settings JOBGATE_REDIS_SENTINELS and JOBGATE_REDIS_CLUSTER_NODES: both are set.*\n$/);
  t.equal(list.stderr.split('\n').length, 2, 'one line');

  const prefix = await runCli(['job', 'list'], { JOBGATE_REDIS_CLUSTER_NODES: '127.0.0.1:7001', JOBGATE_KEY_PREFIX: 'jobgate:' });
  t.equal(prefix.code, 2, 'a Cluster prefix without a hash tag: exit 2');
  t.match(prefix.stderr, /^jobgate: invalid setting JOBGATE_KEY_PREFIX: "jobgate:" has no hash tag.*\n$/);

  const serve = await runCli(['serve'], { ...both, JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_LISTEN: '127.0.0.1:0', JOBGATE_ADMIN_LISTEN: '127.0.0.1:0' });
  t.equal(serve.code, 2, 'serve: exit 2 before listening');
  t.match(serve.stderr, /JOBGATE_REDIS_SENTINELS and JOBGATE_REDIS_CLUSTER_NODES/);
  t.equal(serve.stderr.trim().split('\n').length, 1, 'one line');

  const secret = 'cli-secret-pw';
  const unreachable = await runCli(['token', 'list'], {
    JOBGATE_REDIS_URL: `redis://u:${secret}@127.0.0.1`,
    JOBGATE_REDIS_CLUSTER_NODES: `127.0.0.1:${await freePort()}`,
  });
  t.equal(unreachable.code, 1, 'an unreachable Cluster: exit 1');
  t.match(unreachable.stderr, /^jobgate: cannot reach Redis at Redis Cluster 127\.0\.0\.1:\d+/);
  t.notMatch(unreachable.stderr, secret, 'the password is not printed');
});
