import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { JobStore } from '../../src/jobs/store.js';
import { connectRedis, createRedis, KeySpace } from '../../src/redis/index.js';
import { failed, hiddenCharacters, runCli, succeeded, type CliResult } from '../helpers/cli.js';
import { keysUnder, RedisServer } from '../helpers/redis.js';

// The CLI runs from bin/jobgate.js, which loads dist/: `npm run build` first (npm test does).

const server = await RedisServer.start();
const dead = await RedisServer.start();
await dead.stop();

const admin = createRedis({ url: server.url, commandTimeoutMs: 2000, reconnect: false });
admin.on('error', () => {});
await connectRedis(admin, 2000);

t.teardown(async () => {
  admin.disconnect();
  await server.stop();
});

let spaces = 0;
function fresh(): { keys: KeySpace; env: Record<string, string>; store: JobStore } {
  spaces += 1;
  const keys = new KeySpace(`cli-job-${spaces}:`);
  return { keys, env: { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix }, store: new JobStore(admin, keys) };
}

interface PrintedJob {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { labels: Record<string, string>; upstream: string; ports: Record<string, string>; unsecureHttp: boolean };
}

t.test('put prints the job as YAML, with ports as a map from port to URL', async (t) => {
  const { env, keys } = fresh();
  const result = await runCli(
    ['job', 'put', 'notebook', '--upstream', 'http://10.0.0.5:8080', '--port', '8888=http://10.0.0.5:8888', '-l', 'team=a', '--unsecure-http'],
    env,
  );
  succeeded(t, result, 'put');
  t.throws(() => {
    JSON.parse(result.stdout);
  }, 'the default output is not JSON');
  const printed = parseYaml(result.stdout) as PrintedJob;
  t.same(Object.keys(printed), ['id', 'createdAt', 'updatedAt', 'spec']);
  t.equal(printed.id, 'notebook');
  t.same(printed.spec, {
    labels: { team: 'a', 'jobgate/id': 'notebook' },
    upstream: 'http://10.0.0.5:8080/',
    ports: { '8888': 'http://10.0.0.5:8888/' },
    unsecureHttp: true,
  });
  t.match(printed.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  t.equal(printed.createdAt, printed.updatedAt);

  t.same(await admin.hgetall(keys.job('notebook')), {
    id: 'notebook',
    labels: '{"team":"a"}',
    upstream: 'http://10.0.0.5:8080/',
    ports: '{"8888":"http://10.0.0.5:8888/"}',
    unsecureHttp: 'true',
    createdAt: printed.createdAt,
    updatedAt: printed.updatedAt,
  });
  t.same(await admin.smembers(keys.jobs), ['notebook']);

  const json = await runCli(['job', 'get', 'notebook', '-o', 'json'], env);
  succeeded(t, json, 'get -o json');
  const parsed = JSON.parse(json.stdout) as PrintedJob;
  t.same(parsed, printed, 'JSON and YAML say the same');
  t.same(Object.keys(parsed.spec.ports), ['8888'], 'the port is a string key');
  t.equal(typeof parsed.spec.unsecureHttp, 'boolean');
});

t.test('put defaults and repeated flags', async (t) => {
  const { env } = fresh();
  const plain = await runCli(['job', 'put', 'plain', '--upstream', 'https://svc.internal/base/', '-o', 'json'], env);
  succeeded(t, plain, 'put without options');
  t.same((JSON.parse(plain.stdout) as PrintedJob).spec, {
    labels: { 'jobgate/id': 'plain' },
    upstream: 'https://svc.internal/base/',
    ports: {},
    unsecureHttp: false,
  });
  const many = await runCli(
    [
      'job',
      'put',
      'many',
      '--upstream',
      'http://u',
      '--port',
      '1=http://u:1',
      '--port',
      '65535=http://u:65535',
      '--label',
      'a=1',
      '-l',
      'b=2',
      '-l',
      'example.com/c=',
      '-o',
      'json',
    ],
    env,
  );
  succeeded(t, many, 'put with repeated flags');
  t.same((JSON.parse(many.stdout) as PrintedJob).spec, {
    labels: { a: '1', b: '2', 'example.com/c': '', 'jobgate/id': 'many' },
    upstream: 'http://u/',
    ports: { '1': 'http://u:1/', '65535': 'http://u:65535/' },
    unsecureHttp: false,
  });
});

t.test('put again replaces the job and keeps createdAt', async (t) => {
  const { env } = fresh();
  const first = JSON.parse(
    (await runCli(['job', 'put', 'web', '--upstream', 'http://a', '-l', 'team=a', '--port', '9000=http://a:9000', '--unsecure-http', '-o', 'json'], env))
      .stdout,
  ) as PrintedJob;
  const second = await runCli(['job', 'put', 'web', '--upstream', 'http://b', '-o', 'json'], env);
  succeeded(t, second, 'put again');
  const replaced = JSON.parse(second.stdout) as PrintedJob;
  t.equal(replaced.createdAt, first.createdAt, 'createdAt is kept');
  t.ok(replaced.updatedAt >= first.updatedAt, 'updatedAt moves forward');
  t.same(replaced.spec, { labels: { 'jobgate/id': 'web' }, upstream: 'http://b/', ports: {}, unsecureHttp: false }, 'the whole job is replaced');
});

t.test('list after several puts, get, and delete', async (t) => {
  const { env, keys } = fresh();
  for (const id of ['c-job', 'a-job', 'b-job']) {
    succeeded(t, await runCli(['job', 'put', id, '--upstream', `http://${id}.internal:80`, '-l', `name=${id}`], env), `put ${id}`);
  }
  const list = await runCli(['job', 'list', '-o', 'json'], env);
  succeeded(t, list, 'list');
  const listed = JSON.parse(list.stdout) as PrintedJob[];
  t.same(
    listed.map((job) => job.id),
    ['a-job', 'b-job', 'c-job'],
    'every job, sorted by id',
  );
  t.same(
    listed.map((job) => job.spec.labels.name),
    ['a-job', 'b-job', 'c-job'],
  );
  t.same(
    listed.map((job) => job.spec.upstream),
    ['http://a-job.internal/', 'http://b-job.internal/', 'http://c-job.internal/'],
  );
  const get = await runCli(['job', 'get', 'b-job'], env);
  succeeded(t, get, 'get');
  t.same(parseYaml(get.stdout), listed[1]);

  const deleted = await runCli(['job', 'delete', 'b-job'], env);
  t.equal(deleted.code, 0, 'delete: exit 0');
  t.equal(deleted.stdout, '');
  t.equal(deleted.stderr, 'job b-job deleted\n');
  t.same((await admin.smembers(keys.jobs)).sort(), ['a-job', 'c-job']);
  t.equal(await admin.exists(keys.job('b-job')), 0);

  for (const command of ['get', 'delete']) {
    const result = await runCli(['job', command, 'b-job'], env);
    failed(t, result, 1, `${command} after delete`);
    t.match(result.stderr, 'job b-job not found');
  }
  const empty = fresh();
  t.same(JSON.parse((await runCli(['job', 'list', '-o', 'json'], empty.env)).stdout), [], 'an empty registry lists as []');
});

t.test('bad input: exit 2, one line on stderr, nothing written', async (t) => {
  const { env, keys } = fresh();
  succeeded(t, await runCli(['job', 'put', 'existing', '--upstream', 'http://u'], env), 'put a job to compare against');
  const before = await admin.hgetall(keys.job('existing'));
  const keysBefore = await keysUnder(admin, keys);
  const sizeBefore = await admin.dbsize();
  const cases: Array<[string, string[], Record<string, string>?]> = [
    ['ftp upstream', ['job', 'put', 'j', '--upstream', 'ftp://u/']],
    ['upstream with credentials', ['job', 'put', 'j', '--upstream', 'http://user:pass@u/']],
    ['upstream with a query', ['job', 'put', 'j', '--upstream', 'http://u/?a=1']],
    ['missing --upstream', ['job', 'put', 'j']],
    ['mistyped --upstream', ['job', 'put', 'j', '-l', 'team=a', '--upstrem', 'http://u']],
    ['missing id', ['job', 'put', '--upstream', 'http://u']],
    ['uppercase id', ['job', 'put', 'Job', '--upstream', 'http://u']],
    ['reserved label', ['job', 'put', 'j', '--upstream', 'http://u', '-l', 'jobgate/id=other']],
    ['duplicate --label', ['job', 'put', 'j', '--upstream', 'http://u', '-l', 'team=a', '-l', 'team=b']],
    ['label without =', ['job', 'put', 'j', '--upstream', 'http://u', '-l', 'team']],
    ['bad label key', ['job', 'put', 'j', '--upstream', 'http://u', '-l', 'Bad Key=a']],
    ['port 0', ['job', 'put', 'j', '--upstream', 'http://u', '--port', '0=http://u:1']],
    ['port without =', ['job', 'put', 'j', '--upstream', 'http://u', '--port', '8888']],
    ['duplicate --port', ['job', 'put', 'j', '--upstream', 'http://u', '--port', '1=http://u:1', '--port', '1=http://u:2']],
    ['bad port URL', ['job', 'put', 'j', '--upstream', 'http://u', '--port', '8888=ftp://u']],
    ['bad output format', ['job', 'put', 'j', '--upstream', 'http://u', '-o', 'xml']],
    ['bad id for get', ['job', 'get', 'Bad_Id']],
    ['missing id for get', ['job', 'get']],
    ['bad --redis-url', ['--redis-url', 'http://u', 'job', 'put', 'j', '--upstream', 'http://u']],
    ['replacing with a reserved label', ['job', 'put', 'existing', '--upstream', 'http://v', '-l', 'jobgate/id=x']],
  ];
  const results = await Promise.all(cases.map(([, args, extraEnv]) => runCli(args, { ...env, ...extraEnv })));
  cases.forEach(([what], i) => failed(t, results[i] as CliResult, 2, what));
  const stderrOf = (what: string): string => results[cases.findIndex(([name]) => name === what)]?.stderr ?? '';
  t.match(stderrOf('ftp upstream'), /invalid upstream "ftp:\/\/u\/"/);
  t.match(stderrOf('reserved label'), /reserved prefix "jobgate\/"/);
  t.match(stderrOf('duplicate --label'), /--label "team" is given twice/);
  t.equal(stderrOf('missing --upstream'), "jobgate: required option '--upstream <url>' not specified\n");
  t.equal(stderrOf('mistyped --upstream'), "jobgate: unknown option '--upstrem' (Did you mean --upstream?)\n", 'the mistyped option, not the missing one');
  t.match(stderrOf('uppercase id'), /invalid job id "Job"/);

  t.same(await keysUnder(admin, keys), keysBefore, 'no key was added');
  t.same(await admin.smembers(keys.jobs), ['existing'], 'the index is unchanged');
  t.same(await admin.hgetall(keys.job('existing')), before, 'the existing job is unchanged');
  t.equal(await admin.dbsize(), sizeBefore, 'nothing anywhere in Redis');
});

t.test('a job id or port that would give one host name two meanings: exit 2, one line naming the job and port, nothing written', async (t) => {
  const { env, keys, store } = fresh();
  await store.put({ id: 'nb', upstream: 'http://u', ports: { '8888': 'http://u:8888' } });
  await store.put({ id: 'train-2024', upstream: 'http://u' });
  const before = await Promise.all([keysUnder(admin, keys), admin.hgetall(keys.job('nb')), admin.hgetall(keys.job('train-2024'))]);
  const [takeover, shadow] = await Promise.all([
    runCli(['job', 'put', 'nb-8888', '--upstream', 'http://evil'], env),
    runCli(['job', 'put', 'train', '--upstream', 'http://u', '--port', '2024=http://evil:2024'], env),
  ]);
  failed(t, takeover, 2, 'job nb-8888 while job nb has port 8888');
  t.match(takeover.stderr, /^jobgate: job id "nb-8888" is the host name of port 8888 of job nb\b/);
  failed(t, shadow, 2, 'port 2024 of job train while job train-2024 exists');
  t.match(shadow.stderr, /^jobgate: port 2024 of job train would be served at train-2024\.<jobDomain>, the host name of job train-2024\b/);
  t.same(await Promise.all([keysUnder(admin, keys), admin.hgetall(keys.job('nb')), admin.hgetall(keys.job('train-2024'))]), before, 'nothing written');
});

t.test('a malformed record in list: a warning line, the others still printed', async (t) => {
  const { env, keys } = fresh();
  succeeded(t, await runCli(['job', 'put', 'good', '--upstream', 'http://u'], env), 'put');
  await admin
    .multi()
    .hset(keys.job('bad'), { id: 'bad', labels: '{"team":1}', upstream: 'http://u/', createdAt: '2024-01-01T00:00:00Z', updatedAt: '2024-01-01T00:00:00Z' })
    .sadd(keys.jobs, 'bad')
    .exec();
  const list = await runCli(['job', 'list', '-o', 'json'], env);
  t.equal(list.code, 0, 'list still succeeds');
  t.match(list.stderr, /^jobgate: warning: [^\n]*\n$/, 'exactly one warning line');
  t.match(list.stderr, `malformed record ${keys.job('bad')}`);
  t.same(
    (JSON.parse(list.stdout) as PrintedJob[]).map((job) => job.id),
    ['good'],
    'the valid job is printed',
  );

  const get = await runCli(['job', 'get', 'bad'], env);
  failed(t, get, 1, 'get of the malformed record');
  t.match(get.stderr, `malformed record ${keys.job('bad')}`);

  const fixed = await runCli(['job', 'put', 'bad', '--upstream', 'http://v', '-o', 'json'], env);
  succeeded(t, fixed, 'put over the malformed record repairs it');
  t.equal((JSON.parse(fixed.stdout) as PrintedJob).createdAt, '2024-01-01T00:00:00Z');
  t.equal((await runCli(['job', 'list', '-o', 'json'], env)).stderr, '', 'no warning any more');
});

t.test('hostile records: list warnings and the get error are one line each, with no control or bidi character', async (t) => {
  const { env, keys } = fresh();
  succeeded(t, await runCli(['job', 'put', 'good', '--upstream', 'http://u'], env), 'put');
  const at = '2024-01-01T00:00:00Z';
  await admin
    .multi()
    .hset(keys.job('labels'), { id: 'labels', labels: JSON.stringify({ 'x\u001b[2K\r\u202e': 'a' }), upstream: 'http://u/', createdAt: at, updatedAt: at })
    .hset(keys.job('ports'), {
      id: 'ports',
      labels: '{}',
      upstream: 'http://u/',
      ports: JSON.stringify({ '1\n\u0085jobgate: ok\u2066': 'http://u/' }),
      createdAt: at,
      updatedAt: at,
    })
    .sadd(keys.jobs, 'labels', 'ports')
    .exec();
  const [list, get] = await Promise.all([runCli(['job', 'list', '-o', 'json'], env), runCli(['job', 'get', 'ports'], env)]);
  // Checked without printing the output: raw, it would garble the test report.
  for (const [what, result] of [
    ['list', list],
    ['get', get],
  ] as const) {
    t.same(hiddenCharacters(result.stdout), [], `${what}: no control or bidi character on stdout`);
    t.same(hiddenCharacters(result.stderr), [], `${what}: none on stderr`);
  }
  t.equal(list.code, 0, 'list still succeeds');
  t.same(
    (JSON.parse(list.stdout) as PrintedJob[]).map((job) => job.id),
    ['good'],
    'the valid job is printed',
  );
  const warnings = list.stderr.split('\n');
  t.equal(warnings.pop(), '', 'the warnings end with a line break');
  t.equal(warnings.length, 2, 'one line per malformed record');
  t.ok(
    warnings.every((line) => line.startsWith('jobgate: warning: skipped malformed record ')),
    'each line is a whole warning',
  );
  t.ok(
    warnings.some((line) => line.includes('label key "x\\u001b[2K\\r\\u202e"')),
    'the label key is shown with its escapes',
  );
  t.equal(get.code, 1, 'get of a malformed record: exit 1');
  t.ok(/^jobgate: [^\n]+\n$/.test(get.stderr), 'get: exactly one line on stderr');
  t.ok(get.stderr.includes('ports: "1\\n\\u0085jobgate: ok\\u2066"'), 'the port is shown with its escapes');
});

t.test('Redis unreachable: exit 1 with one line', async (t) => {
  const env = { JOBGATE_REDIS_URL: dead.url };
  const cases = [
    ['job', 'list'],
    ['job', 'put', 'j', '--upstream', 'http://u'],
    ['job', 'delete', 'j'],
  ];
  const results = await Promise.all(cases.map((args) => runCli(args, env)));
  for (const [i, args] of cases.entries()) {
    failed(t, results[i] as CliResult, 1, args.join(' '));
    t.match(results[i]?.stderr, `cannot reach Redis at 127.0.0.1:${dead.port}`);
  }
  failed(t, await runCli(['job', 'put', 'J', '--upstream', 'http://u'], env), 2, 'bad input is still exit 2 with Redis down');
});

t.test('--redis-url overrides JOBGATE_REDIS_URL', async (t) => {
  const { keys, store } = fresh();
  const ok = await runCli(['--redis-url', server.url, 'job', 'put', 'flagged', '--upstream', 'http://u'], {
    JOBGATE_REDIS_URL: dead.url,
    JOBGATE_KEY_PREFIX: keys.prefix,
  });
  succeeded(t, ok, 'flag pointing at the live server');
  t.equal((await store.get('flagged')).id, 'flagged');
  failed(
    t,
    await runCli(['--redis-url', dead.url, 'job', 'list'], { JOBGATE_REDIS_URL: server.url, JOBGATE_KEY_PREFIX: keys.prefix }),
    1,
    'flag pointing at the dead server',
  );
});

t.test('--help on every job command exits 0 and prints its usage', async (t) => {
  const commands = [['job'], ['job', 'put'], ['job', 'get'], ['job', 'list'], ['job', 'delete']];
  const results = await Promise.all(commands.map((command) => runCli([...command, '--help'])));
  for (const [i, command] of commands.entries()) {
    const result = results[i] as CliResult;
    succeeded(t, result, `${command.join(' ')} --help`);
    t.match(result.stdout, new RegExp(`^Usage: jobgate ${command.join(' ')} `));
  }
  const put = results[1]?.stdout ?? '';
  for (const flag of ['--upstream', '--port', '--label', '--unsecure-http', '--output']) t.match(put, flag, `put --help mentions ${flag}`);
});

t.test('-o table on list and get: id, labels, upstream host, ports, unsecureHttp, aligned; no colour off a terminal', async (t) => {
  const { env } = fresh();
  for (const args of [
    [
      'notebook',
      '--upstream',
      'http://10.0.0.5:8888',
      '-l',
      'team=a',
      '-l',
      'env=dev',
      '--port',
      '6006=http://10.0.0.5:6006',
      '--port',
      '8080=http://10.0.0.5:8080',
    ],
    ['model', '--upstream', 'https://model.internal/v1', '--unsecure-http'],
  ]) {
    succeeded(t, await runCli(['job', 'put', ...args], env), `put ${args[0]}`);
  }
  const list = await runCli(['job', 'list', '-o', 'table'], env);
  succeeded(t, list, 'list -o table');
  t.equal(
    list.stdout,
    [
      'ID         LABELS           UPSTREAM         PORTS       UNSECURE-HTTP   LAST-USED',
      'model      <none>           model.internal   <none>      true            <never>',
      'notebook   team=a,env=dev   10.0.0.5:8888    6006,8080   false           <never>',
      '',
    ].join('\n'),
    'sorted by id, aligned, without escape sequences: stdout is a pipe',
  );
  const get = await runCli(['job', 'get', 'notebook', '-o', 'table'], env);
  succeeded(t, get, 'get -o table');
  t.equal(
    get.stdout,
    'ID         LABELS           UPSTREAM        PORTS       UNSECURE-HTTP   LAST-USED\nnotebook   team=a,env=dev   10.0.0.5:8888   6006,8080   false           <never>\n',
  );
  t.match(
    parseYaml((await runCli(['job', 'get', 'notebook'], env)).stdout),
    { id: 'notebook', spec: { upstream: 'http://10.0.0.5:8888/' } },
    'YAML stays the default',
  );
  const empty = fresh();
  t.equal(
    (await runCli(['job', 'list', '-o', 'table'], empty.env)).stdout,
    'ID   LABELS   UPSTREAM   PORTS   UNSECURE-HTTP   LAST-USED\n',
    'no job: the header alone',
  );
  const refused = await runCli(['job', 'put', 'x', '--upstream', 'http://u', '-o', 'table'], env);
  failed(t, refused, 2, 'put -o table');
});
