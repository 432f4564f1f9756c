import t from 'tap';
import { InputError, NotFoundError, RecordError } from '../../src/errors.js';
import { JOB_ID_LABEL, MAX_JOB_ID_LENGTH, MAX_LABELS, jobView, type JobRecord } from '../../src/jobs/record.js';
import { JobStore, type JobSpec } from '../../src/jobs/store.js';
import { KeySpace } from '../../src/redis/index.js';
import { rejectionOf } from '../helpers/errors.js';
import { storedJobHash } from '../helpers/fixtures.js';
import { keysUnder, RedisClients, RedisServer, writeJobHash } from '../helpers/redis.js';

const server = await RedisServer.start();
const clients = new RedisClients(server.url);

t.teardown(async () => {
  clients.disconnectAll();
  await server.stop();
});

const admin = await clients.connect();

let spaces = 0;
function freshStore(): { keys: KeySpace; store: JobStore } {
  spaces += 1;
  const keys = new KeySpace(`j${spaces}:`);
  return { keys, store: new JobStore(admin, keys) };
}

t.test('put stores the documented hash, indexes the id and announces it', async (t) => {
  const { keys, store } = freshStore();
  const messages = await clients.invalidations(keys);
  const now = new Date('2025-03-04T05:06:07.089Z');
  const job = await store.put(
    {
      id: 'train-42',
      upstream: 'http://10.0.0.7:8080',
      ports: { '8888': 'http://10.0.0.7:8888/lab' },
      labels: { team: 'a', 'example.com/tier': 'gold' },
      unsecureHttp: true,
    },
    now,
  );

  t.same(await admin.hgetall(keys.job('train-42')), {
    id: 'train-42',
    labels: '{"team":"a","example.com/tier":"gold"}',
    upstream: 'http://10.0.0.7:8080/',
    ports: '{"8888":"http://10.0.0.7:8888/lab"}',
    unsecureHttp: 'true',
    createdAt: '2025-03-04T05:06:07.089Z',
    updatedAt: '2025-03-04T05:06:07.089Z',
  });
  t.same(JSON.parse((await admin.hget(keys.job('train-42'), 'labels')) ?? ''), { team: 'a', 'example.com/tier': 'gold' }, 'jobgate/id is not stored');
  t.same(await admin.smembers(keys.jobs), ['train-42']);
  t.same(await keysUnder(admin, keys), [keys.events, keys.job('train-42'), keys.jobs].sort(), 'nothing else is written (beside its audit event)');

  t.equal(job.id, 'train-42');
  t.equal(job.upstream.href, 'http://10.0.0.7:8080/');
  t.same(
    [...job.ports].map(([port, url]) => [port, url.href]),
    [[8888, 'http://10.0.0.7:8888/lab']],
  );
  t.equal(job.unsecureHttp, true);
  t.same(Object.fromEntries(job.labels), { team: 'a', 'example.com/tier': 'gold', [JOB_ID_LABEL]: 'train-42' });

  await messages.count(1);
  t.same(messages.seen, ['job:train-42'], 'one invalidation message on <prefix>invalidate');
});

t.test('put defaults: no ports, no labels, unsecureHttp "false"', async (t) => {
  const { keys, store } = freshStore();
  const job = await store.put({ id: 'plain', upstream: 'https://example.com/base/' });
  t.match(await admin.hgetall(keys.job('plain')), { labels: '{}', ports: '{}', unsecureHttp: 'false', upstream: 'https://example.com/base/' });
  t.equal(job.unsecureHttp, false);
  t.equal(job.ports.size, 0);
  t.same(Object.fromEntries(job.labels), { [JOB_ID_LABEL]: 'plain' }, 'every job carries jobgate/id');
  t.same(jobView(job).spec, { labels: { [JOB_ID_LABEL]: 'plain' }, upstream: 'https://example.com/base/', ports: {}, unsecureHttp: false });
});

t.test('put replaces the whole job, keeps createdAt and moves updatedAt', async (t) => {
  const { keys, store } = freshStore();
  const messages = await clients.invalidations(keys);
  await store.put(
    { id: 'web', upstream: 'http://a:1', ports: { '9000': 'http://a:9000' }, labels: { team: 'a', old: 'x' }, unsecureHttp: true },
    new Date('2025-01-01T00:00:00.000Z'),
  );
  const replaced = await store.put({ id: 'web', upstream: 'http://b:2', labels: { team: 'b' } }, new Date('2025-02-01T00:00:00.000Z'));
  t.equal(replaced.createdAt, '2025-01-01T00:00:00.000Z', 'createdAt is kept');
  t.equal(replaced.updatedAt, '2025-02-01T00:00:00.000Z', 'updatedAt moves');
  t.equal(replaced.upstream.href, 'http://b:2/');
  t.equal(replaced.ports.size, 0, 'ports not given are gone');
  t.equal(replaced.unsecureHttp, false, 'unsecureHttp not given is false again');
  t.same(Object.fromEntries(replaced.labels), { team: 'b', [JOB_ID_LABEL]: 'web' }, 'labels not given are gone');
  const read = await store.get('web');
  t.same(jobView(read), jobView(replaced), 'get reads what put returned');
  t.same(await admin.smembers(keys.jobs), ['web'], 'indexed once');

  await store.delete('web');
  await messages.count(3);
  t.same(messages.seen, ['job:web', 'job:web', 'job:web'], 'put, put again and delete each announce the job');
});

t.test('get, list and delete', async (t) => {
  const { keys, store } = freshStore();
  t.same(await store.list(), [], 'an empty registry lists nothing');
  for (const id of ['c', 'a', 'b']) await store.put({ id, upstream: `http://${id}.internal:80`, labels: { name: id } });
  const listed = (await store.list()) as JobRecord[];
  t.same(
    listed.map((job) => job.id),
    ['a', 'b', 'c'],
    'every job, sorted by id',
  );
  t.same(
    listed.map((job) => job.labels.get('name')),
    ['a', 'b', 'c'],
  );
  t.equal((await store.get('b')).upstream.href, 'http://b.internal/');
  await store.delete('b');
  t.type(await rejectionOf(store.get('b')), NotFoundError, 'a deleted job is not found');
  t.equal(await admin.exists(keys.job('b')), 0, 'the hash is gone');
  t.same((await admin.smembers(keys.jobs)).sort(), ['a', 'c'], 'the index entry is gone');
  t.same(
    ((await store.list()) as JobRecord[]).map((job) => job.id),
    ['a', 'c'],
  );
});

t.test('unknown jobs: get and delete throw NotFoundError', async (t) => {
  const { keys, store } = freshStore();
  for (const [what, call] of [
    ['get', () => store.get('ghost')],
    ['delete', () => store.delete('ghost')],
  ] as const) {
    const error = await rejectionOf(call());
    t.type(error, NotFoundError, what);
    t.match(error, { message: /job ghost not found/ }, what);
  }
  t.equal(await store.find('ghost'), undefined);
  t.same(await keysUnder(admin, keys), [], 'nothing is written for an unknown job');
});

t.test('job id rules: a lowercase DNS label of at most 63 characters', async (t) => {
  const { keys, store } = freshStore();
  for (const id of ['a', '0', 'a-b', 'job-1', '1job', 'x'.repeat(MAX_JOB_ID_LENGTH)]) {
    t.equal((await store.put({ id, upstream: 'http://u' })).id, id, `${JSON.stringify(id)} is accepted`);
  }
  const before = await keysUnder(admin, keys);
  for (const id of ['', 'A', 'Job', 'a_b', 'a.b', '-a', 'a-', 'a b', 'é', 'x'.repeat(MAX_JOB_ID_LENGTH + 1), 'a/b', '*']) {
    const error = await rejectionOf(store.put({ id, upstream: 'http://u' }));
    t.type(error, InputError, `put ${JSON.stringify(id)}`);
    t.match(error, { message: /invalid job id/ });
    t.type(await rejectionOf(store.get(id)), InputError, `get ${JSON.stringify(id)}`);
    t.type(await rejectionOf(store.delete(id)), InputError, `delete ${JSON.stringify(id)}`);
  }
  t.same(await keysUnder(admin, keys), before, 'refused ids write nothing');
});

t.test('upstream rules: absolute http(s) URL without credentials, query or fragment', async (t) => {
  const { keys, store } = freshStore();
  for (const upstream of ['http://u', 'https://u:8443/base/', 'http://[::1]:8080', 'http://10.1.2.3']) {
    t.ok(await store.put({ id: 'ok', upstream }), upstream);
  }
  const before = await keysUnder(admin, keys);
  for (const upstream of [
    '',
    'not a url',
    '/relative/path',
    'ftp://u/',
    'file:///etc/passwd',
    'ws://u/',
    'javascript:alert(1)',
    'http://user:pass@u/',
    'http://user@u/',
    'http://u/?a=1',
    'http://u/#frag',
  ]) {
    const error = await rejectionOf(store.put({ id: 'bad', upstream }));
    t.type(error, InputError, JSON.stringify(upstream));
    t.match(error, { message: /invalid upstream/ }, JSON.stringify(upstream));
    t.type(await rejectionOf(store.put({ id: 'bad', upstream: 'http://u', ports: { '8888': upstream } })), InputError, `port URL ${JSON.stringify(upstream)}`);
  }
  t.same(await keysUnder(admin, keys), before, 'refused upstreams write nothing');
});

t.test('an empty query or fragment is refused too (it would be stored and forwarded as "http://u/?")', async (t) => {
  const { keys, store } = freshStore();
  for (const upstream of ['http://u/?', 'http://u/#', 'http://u/path?#']) {
    t.type(await rejectionOf(store.put({ id: 'bad', upstream })), InputError, JSON.stringify(upstream));
    t.type(await rejectionOf(store.put({ id: 'bad', upstream: 'http://u', ports: { '8888': upstream } })), InputError, `port URL ${JSON.stringify(upstream)}`);
  }
  t.same(await keysUnder(admin, keys), [], 'nothing is written');
});

t.test('port rules: 1 to 65535, written as a plain number', async (t) => {
  const { keys, store } = freshStore();
  const job = await store.put({ id: 'ports', upstream: 'http://u', ports: { '1': 'http://u:1', '65535': 'http://u:65535', '8888': 'http://u:8888' } });
  t.same(
    [...job.ports.keys()].sort((a, b) => a - b),
    [1, 8888, 65535],
  );
  const before = await keysUnder(admin, keys);
  for (const port of ['0', '65536', '99999', '080', '-1', '1.5', 'abc', '', ' 80', '8888 ', '1e3']) {
    const error = await rejectionOf(store.put({ id: 'bad', upstream: 'http://u', ports: { [port]: 'http://u:80' } }));
    t.type(error, InputError, JSON.stringify(port));
    t.match(error, { message: /invalid port mapping/ }, JSON.stringify(port));
  }
  t.same(await keysUnder(admin, keys), before, 'refused ports write nothing');
});

t.test('labels: Kubernetes rules, at most 64, and the jobgate/ prefix is reserved', async (t) => {
  const { keys, store } = freshStore();
  const many = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, `v${i}`]));
  t.equal((await store.put({ id: 'many', upstream: 'http://u', labels: many })).labels.size, MAX_LABELS + 1, '64 labels plus jobgate/id');
  t.ok(await store.put({ id: 'empty-value', upstream: 'http://u', labels: { team: '' } }), 'an empty value is fine');
  const before = await keysUnder(admin, keys);
  const refused: Array<[string, Record<string, string>]> = [
    ['jobgate/id', { [JOB_ID_LABEL]: 'other-job' }],
    ['jobgate/anything', { 'jobgate/anything': 'x' }],
    ['bad key', { 'Bad Key': 'x' }],
    ['bad prefix', { 'Example.com/x': 'x' }],
    ['bad value', { team: 'a b' }],
    ['long value', { team: 'v'.repeat(64) }],
    ['too many', { ...many, extra: 'x' }],
  ];
  for (const [what, labels] of refused) {
    const error = await rejectionOf(store.put({ id: 'bad', upstream: 'http://u', labels }));
    t.type(error, InputError, what);
  }
  t.match(await rejectionOf(store.put({ id: 'bad', upstream: 'http://u', labels: { [JOB_ID_LABEL]: 'x' } })), { message: /reserved prefix "jobgate\/"/ });
  t.same(await keysUnder(admin, keys), before, 'refused labels write nothing');
});

t.test('malformed hand-written records are refused with RecordError', async (t) => {
  const { keys, store } = freshStore();
  await store.put({ id: 'good', upstream: 'http://u' });
  const cases: Array<[string, Record<string, string>]> = [
    ['labels not JSON', { labels: '{team: a}' }],
    ['labels an array', { labels: '["team"]' }],
    ['labels null', { labels: 'null' }],
    ['labels a string', { labels: '"team=a"' }],
    ['label value not a string', { labels: '{"team":1}' }],
    ['label value null', { labels: '{"team":null}' }],
    ['reserved label jobgate/id', { labels: '{"jobgate/id":"other"}' }],
    ['reserved label jobgate/x', { labels: '{"jobgate/x":"y"}' }],
    ['bad label key', { labels: '{"Bad Key":"x"}' }],
    ['too many labels', { labels: JSON.stringify(Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v']))) }],
    ['ports not JSON', { ports: '8888=http://u' }],
    ['ports an array', { ports: '["http://u"]' }],
    ['bad port key', { ports: '{"0":"http://u:1/"}' }],
    ['port key not a number', { ports: '{"lab":"http://u:1/"}' }],
    ['port URL not a string', { ports: '{"8888":8888}' }],
    ['port URL with credentials', { ports: '{"8888":"http://a:b@u/"}' }],
    ['unsecureHttp "yes"', { unsecureHttp: 'yes' }],
    ['unsecureHttp "TRUE"', { unsecureHttp: 'TRUE' }],
    ['upstream ftp', { upstream: 'ftp://u/' }],
    ['upstream not a URL', { upstream: 'not a url' }],
    ['upstream with a query', { upstream: 'http://u/?a=1' }],
    ['id mismatch', { id: 'someone-else' }],
    ['createdAt not ISO-8601', { createdAt: '2024-01-02' }],
  ];
  const missing = ['id', 'labels', 'upstream', 'createdAt', 'updatedAt'];
  const ids: string[] = [];
  for (const [index, [what, patch]] of cases.entries()) {
    const id = `bad-${index}`;
    ids.push(id);
    await writeJobHash(admin, keys, id, { ...storedJobHash(id), ...patch });
    const error = await rejectionOf(store.get(id));
    t.type(error, RecordError, what);
    t.match(error, { key: keys.job(id), message: new RegExp(`^malformed record ${keys.job(id)}: `) }, what);
  }
  for (const field of missing) {
    const id = `missing-${field.toLowerCase()}`;
    ids.push(id);
    const hash = storedJobHash(id);
    delete hash[field];
    await writeJobHash(admin, keys, id, hash);
    const error = await rejectionOf(store.get(id));
    t.type(error, RecordError, `missing ${field}`);
    t.match(error, { message: new RegExp(`"${field}" is missing`) }, `missing ${field}`);
  }

  const listed = await store.list();
  t.equal(listed.length, ids.length + 1, 'list returns one entry per indexed job');
  const jobs = listed.filter((entry): entry is JobRecord => !(entry instanceof Error));
  const errors = listed.filter((entry): entry is Error => entry instanceof Error);
  t.same(
    jobs.map((job) => job.id),
    ['good'],
    'the valid job is still listed',
  );
  t.equal(errors.length, ids.length);
  for (const error of errors) t.type(error, RecordError);
  t.same(errors.map((error) => (error as RecordError).key).sort(), ids.map((id) => keys.job(id)).sort());
});

t.test('hand-written records: optional fields and what a valid one reads as', async (t) => {
  const { keys, store } = freshStore();
  await writeJobHash(admin, keys, 'minimal', {
    id: 'minimal',
    labels: '{}',
    upstream: 'http://u:81/',
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
  });
  const minimal = await store.get('minimal');
  t.equal(minimal.ports.size, 0, 'ports may be absent');
  t.equal(minimal.unsecureHttp, false, 'unsecureHttp may be absent (false)');
  await writeJobHash(admin, keys, 'full', { ...storedJobHash('full'), unsecureHttp: 'true' });
  const full = await store.get('full');
  t.same(jobView(full).spec, {
    labels: { team: 'a', [JOB_ID_LABEL]: 'full' },
    upstream: 'http://10.0.0.1:8080/',
    ports: { '8888': 'http://10.0.0.1:8888/' },
    unsecureHttp: true,
  });
});

t.test('a key of the wrong type (set by hand) is a malformed record', async (t) => {
  const { keys, store } = freshStore();
  await store.put({ id: 'good', upstream: 'http://u' });
  await admin.multi().sadd(keys.job('wrong'), 'x').sadd(keys.jobs, 'wrong').exec();
  t.match(await rejectionOf(store.get('wrong')), { name: 'RecordError', key: keys.job('wrong') }, 'get');
  const listed = await store.list();
  t.same(
    listed.filter((entry) => !(entry instanceof Error)).map((entry) => (entry as JobRecord).id),
    ['good'],
    'list keeps the valid job',
  );
  const errors = listed.filter((entry) => entry instanceof Error);
  t.equal(errors.length, 1);
  t.match(errors[0], { name: 'RecordError', key: keys.job('wrong') }, 'list reports it as a malformed record naming the key, like get');
  await store.delete('wrong');
  t.equal(await admin.exists(keys.job('wrong')), 0, 'delete removes it');
});

t.test('an index entry whose hash is gone is skipped by list', async (t) => {
  const { keys, store } = freshStore();
  await store.put({ id: 'kept', upstream: 'http://u' });
  await admin.sadd(keys.jobs, 'gone');
  t.same(
    ((await store.list()) as JobRecord[]).map((job) => job.id),
    ['kept'],
  );
});

t.test('put over a malformed record replaces it with a valid one', async (t) => {
  const { keys, store } = freshStore();
  await writeJobHash(admin, keys, 'fixme', { ...storedJobHash('fixme'), unsecureHttp: 'yes' });
  const fixed = await store.put({ id: 'fixme', upstream: 'http://u' }, new Date('2025-05-05T05:05:05.000Z'));
  t.equal(fixed.unsecureHttp, false);
  t.equal(fixed.createdAt, '2024-01-02T03:04:05.678Z', 'the first createdAt is kept');
  t.equal((await store.get('fixme')).updatedAt, '2025-05-05T05:05:05.000Z');
});

t.test('delete of a malformed record removes it', async (t) => {
  const { keys, store } = freshStore();
  await writeJobHash(admin, keys, 'broken', { ...storedJobHash('broken'), labels: '[' });
  await store.delete('broken');
  t.same(await keysUnder(admin, keys), [keys.events], 'the record is gone, its delete recorded');
});

t.test('JobSpec fields are what the CLI writes', async (t) => {
  const { store } = freshStore();
  const spec: JobSpec = { id: 'spec', upstream: 'http://u', ports: {}, labels: {}, unsecureHttp: false };
  t.same(jobView(await store.put(spec)).spec, { labels: { [JOB_ID_LABEL]: 'spec' }, upstream: 'http://u/', ports: {}, unsecureHttp: false });
});

/** A snapshot of every key under the prefix and its content, to show that a refused put wrote nothing. */
async function dump(keys: KeySpace): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {};
  for (const key of await keysUnder(admin, keys)) {
    const type = await admin.type(key);
    result[key] = type === 'set' ? (await admin.smembers(key)).sort() : type === 'stream' ? await admin.xrange(key, '-', '+') : await admin.hgetall(key);
  }
  return result;
}

t.test("a job id that is another job's <id>-<port> host name is refused, and so is the port that would make one", async (t) => {
  const { keys, store } = freshStore();
  const events = await clients.invalidations(keys);
  await store.put({ id: 'nb', upstream: 'http://u', ports: { '8888': 'http://u:8888' } });
  await store.put({ id: 'a-b', upstream: 'http://u', ports: { '80': 'http://u:80' } });
  await store.put({ id: 'train-2024', upstream: 'http://u' });
  await events.count(3);
  const before = await dump(keys);

  const taken = await rejectionOf(store.put({ id: 'nb-8888', upstream: 'http://evil' }));
  t.type(taken, InputError, 'job nb-8888 while job nb has port 8888');
  t.match(taken, {
    message: /^job id "nb-8888" is the host name of port 8888 of job nb \(nb-8888\.<jobDomain>\): choose another id, or remove port 8888 from job nb first$/,
  });
  // Ports are numbers: `a-b-80` reads only as port 80 of job `a-b`.
  t.match(
    await rejectionOf(store.put({ id: 'a-b-80', upstream: 'http://evil' })),
    { name: 'InputError', message: /port 80 of job a-b\b/ },
    'a-b-80 is port 80 of a-b',
  );

  const shadowing = await rejectionOf(store.put({ id: 'train', upstream: 'http://u', ports: { '2024': 'http://evil:2024' } }));
  t.type(shadowing, InputError, 'port 2024 of job train while job train-2024 exists');
  t.match(shadowing, {
    message:
      /^port 2024 of job train would be served at train-2024\.<jobDomain>, the host name of job train-2024: choose another port, or delete job train-2024 first$/,
  });

  t.same(await dump(keys), before, 'the refused puts wrote nothing');
  await store.put({ id: 'marker', upstream: 'http://u' });
  await events.count(4);
  t.same(events.seen.slice(3), ['job:marker'], 'and announced nothing');
});

t.test('what does not collide: another port of the owner, a job without that port, a leading zero, a long id', async (t) => {
  const { store } = freshStore();
  await store.put({ id: 'nb', upstream: 'http://u', ports: { '8888': 'http://u:8888' } });
  for (const id of ['nb-8080', 'nb-x8888', 'nb-08888', 'xnb-8888', 'other-8888']) t.equal((await store.put({ id, upstream: 'http://u' })).id, id, id);
  t.equal(
    (await store.put({ id: 'nb', upstream: 'http://u', ports: { '8888': 'http://u:8889' } })).ports.get(8888)?.port,
    '8889',
    'the owner replaces its own port',
  );
  t.equal((await store.put({ id: 'nb-8888-1', upstream: 'http://u' })).id, 'nb-8888-1', 'port 1 of a job nb-8888 that does not exist');
});

t.test('a hand-written record that cannot be read counts as a collision (fail closed)', async (t) => {
  const { keys, store } = freshStore();
  await writeJobHash(admin, keys, 'odd', { ...storedJobHash('odd'), ports: '[' });
  t.match(await rejectionOf(store.put({ id: 'odd-8888', upstream: 'http://u' })), { name: 'InputError', message: /port 8888 of job odd/ });
  await admin.set(keys.job('wrong'), 'x');
  t.match(await rejectionOf(store.put({ id: 'wrong-1', upstream: 'http://u' })), { name: 'InputError' }, 'a key of the wrong type');
  await writeJobHash(admin, keys, 'hand-9', { ...storedJobHash('hand-9'), labels: '[' });
  t.match(
    await rejectionOf(store.put({ id: 'hand', upstream: 'http://u', ports: { '9': 'http://u:9' } })),
    { name: 'InputError', message: /job hand-9/ },
    'a malformed job at <id>-<port>',
  );
});

t.test('concurrent puts of the two readings of one host name: exactly one is written', async (t) => {
  for (let round = 0; round < 20; round++) {
    const { store } = freshStore();
    const results = await Promise.allSettled([
      store.put({ id: 'nb', upstream: 'http://u', ports: { '8888': 'http://u:8888' } }),
      store.put({ id: 'nb-8888', upstream: 'http://evil' }),
    ]);
    const written = results.filter((result) => result.status === 'fulfilled');
    t.equal(written.length, 1, `round ${round}: one written`);
    const refused = results.find((result) => result.status === 'rejected');
    t.type(refused?.reason, InputError, `round ${round}: the other refused`);
  }
});
