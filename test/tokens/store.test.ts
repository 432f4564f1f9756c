import t from 'tap';
import { InputError, NotFoundError, RecordError, StoreUnavailableError } from '../../src/errors.js';
import { KeySpace } from '../../src/redis/index.js';
import { mintToken, parseToken, type ParsedToken } from '../../src/tokens/format.js';
import { MAX_TOKEN_NAME_LENGTH, type TokenRecord } from '../../src/tokens/record.js';
import { TokenStore } from '../../src/tokens/store.js';
import { rejectionOf } from '../helpers/errors.js';
import { storedTokenHash } from '../helpers/fixtures.js';
import { keysUnder, RedisClients, RedisServer, writeTokenHash } from '../helpers/redis.js';

const server = await RedisServer.start();
const clients = new RedisClients(server.url);

t.teardown(async () => {
  clients.disconnectAll();
  await server.stop();
});

const admin = await clients.connect();

let spaces = 0;
/** A fresh key prefix, so that every test starts with an empty registry. */
function freshSpace(): KeySpace {
  spaces += 1;
  return new KeySpace(`t${spaces}:`);
}

async function freshStore(): Promise<{ keys: KeySpace; store: TokenStore }> {
  const keys = freshSpace();
  return { keys, store: new TokenStore(admin, keys) };
}

function parsed(value: string): ParsedToken {
  const token = parseToken(value);
  if (!token) throw new Error(`not a token value: ${value}`);
  return token;
}

t.test('create stores the documented hash, indexes the id and announces it', async (t) => {
  const { keys, store } = await freshStore();
  const messages = await clients.invalidations(keys);
  const now = new Date('2025-06-07T08:09:10.123Z');
  const issued = await store.create({ name: 'ci bot', role: 'operator', labelSelector: 'team=a,env in (dev,prod)' }, now);

  t.match(issued.record, {
    name: 'ci bot',
    role: 'operator',
    labelSelector: 'team=a,env in (dev,prod)',
    version: 1,
    createdAt: '2025-06-07T08:09:10.123Z',
    updatedAt: '2025-06-07T08:09:10.123Z',
  });
  const id = issued.record.id;
  t.equal(parsed(issued.value).id, id, 'the value names the record');

  const hash = await admin.hgetall(keys.token(id));
  t.same(hash, {
    id,
    name: 'ci bot',
    role: 'operator',
    labelSelector: 'team=a,env in (dev,prod)',
    secretHash: parsed(issued.value).digest,
    version: '1',
    createdAt: '2025-06-07T08:09:10.123Z',
    updatedAt: '2025-06-07T08:09:10.123Z',
  });
  t.same(await admin.smembers(keys.tokens), [id]);
  t.same(await keysUnder(admin, keys), [keys.events, keys.token(id), keys.tokens].sort(), 'nothing else is written (beside its audit event)');
  await messages.count(1);
  t.same(messages.seen, [`token:${id}`], 'one invalidation message on <prefix>invalidate');
});

t.test('the plaintext secret is stored nowhere', async (t) => {
  const { keys, store } = await freshStore();
  const created = await store.create({ name: 'secret keeper', role: 'read' });
  const issued = await store.renew(created.record.id);
  const secret = issued.value.slice(41, 105);
  t.equal(secret.length, 64);
  const streams: string[] = [];
  for (const key of await admin.keys('*')) {
    const type = await admin.type(key);
    if (type === 'stream') streams.push(key);
    const values =
      type === 'hash'
        ? Object.entries(await admin.hgetall(key)).flat()
        : type === 'set'
          ? await admin.smembers(key)
          : type === 'stream'
            ? (await admin.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields])
            : [String(await admin.get(key))];
    for (const value of values) {
      t.notOk(value.includes(issued.value), `${key} does not hold the value`);
      t.notOk(value.includes(secret), `${key} does not hold the secret`);
    }
  }
  t.notOk(JSON.stringify(await admin.hgetall(keys.token(issued.record.id))).includes(secret));
  t.ok(streams.includes(keys.events), 'the audit stream, with the create and the renew, was searched too');
});

t.test('create trims the selector, defaults to unscoped and accepts a 128-character name', async (t) => {
  const { store } = await freshStore();
  const trimmed = await store.create({ name: 'trim', role: 'read', labelSelector: '  team=a  ' });
  t.equal(trimmed.record.labelSelector, 'team=a');
  const unscoped = await store.create({ name: 'unscoped', role: 'read' });
  t.equal(unscoped.record.labelSelector, '');
  t.equal(unscoped.record.selector.empty, true);
  const long = await store.create({ name: 'n'.repeat(MAX_TOKEN_NAME_LENGTH), role: 'operator' });
  t.equal((await store.get(long.record.id)).name.length, MAX_TOKEN_NAME_LENGTH);
  t.not(trimmed.record.id, unscoped.record.id, 'every token gets its own id');
});

t.test('resolve: the value resolves; renew replaces it; delete ends it', async (t) => {
  const { keys, store } = await freshStore();
  const messages = await clients.invalidations(keys);
  const issued = await store.create({ name: 'renewable', role: 'read', labelSelector: 'team=a' }, new Date('2025-01-01T00:00:00.000Z'));
  const id = issued.record.id;

  const resolved = await store.resolve(parsed(issued.value));
  t.equal(resolved?.id, id);
  t.equal(resolved?.name, 'renewable');
  t.equal(resolved?.role, 'read');

  const renewed = await store.renew(id, new Date('2025-02-01T00:00:00.000Z'));
  t.not(renewed.value, issued.value, 'a new value');
  t.equal(parsed(renewed.value).id, id, 'same id in the new value');
  t.match(renewed.record, { id, name: 'renewable', role: 'read', labelSelector: 'team=a', version: 2 });
  t.equal(renewed.record.createdAt, '2025-01-01T00:00:00.000Z', 'createdAt is kept');
  t.equal(renewed.record.updatedAt, '2025-02-01T00:00:00.000Z', 'updatedAt moves');
  t.equal(await store.resolve(parsed(issued.value)), undefined, 'the old value stops working');
  t.match(await store.resolve(parsed(renewed.value)), { id, version: 2 }, 'the new value works');
  t.match(await admin.hgetall(keys.token(id)), { version: '2', secretHash: parsed(renewed.value).digest });
  t.same(await admin.smembers(keys.tokens), [id]);

  const again = await store.renew(id);
  t.equal(again.record.version, 3);
  t.equal(await store.resolve(parsed(renewed.value)), undefined, 'the second value stops working too');

  await store.delete(id);
  t.equal(await store.resolve(parsed(again.value)), undefined, 'a deleted token resolves to nothing');
  t.equal(await admin.exists(keys.token(id)), 0, 'the hash is gone');
  t.same(await admin.smembers(keys.tokens), [], 'the index entry is gone');
  await messages.count(4);
  t.same(messages.seen, [`token:${id}`, `token:${id}`, `token:${id}`, `token:${id}`], 'create, renew, renew and delete each announce the token');
});

t.test('resolve refuses a well-formed value whose secret is not the stored one', async (t) => {
  const { store } = await freshStore();
  const issued = await store.create({ name: 'victim', role: 'operator' });
  const forged = mintToken(issued.record.id);
  t.ok(parseToken(forged.value), 'the forged value has a valid shape and checksum');
  t.equal(await store.resolve(parsed(forged.value)), undefined);
  t.equal(await store.resolve(parsed(mintToken().value)), undefined, 'an unknown id resolves to nothing');
});

t.test('get, list, renew and delete', async (t) => {
  const { store } = await freshStore();
  t.same(await store.list(), [], 'an empty registry lists nothing');
  const a = await store.create({ name: 'a', role: 'read', labelSelector: 'team=a' });
  const b = await store.create({ name: 'b', role: 'operator' });
  const got = await store.get(a.record.id);
  t.match(got, { id: a.record.id, name: 'a', role: 'read', labelSelector: 'team=a', version: 1 });
  const listed = (await store.list()) as TokenRecord[];
  t.same(
    listed.map((record) => record.id),
    [a.record.id, b.record.id].sort(),
    'list returns every token, sorted by id',
  );
  t.same(await store.ids(), [a.record.id, b.record.id].sort());
  await store.delete(b.record.id);
  t.same(
    ((await store.list()) as TokenRecord[]).map((record) => record.id),
    [a.record.id],
  );
});

t.test('unknown tokens: get, renew and delete throw NotFoundError', async (t) => {
  const { keys, store } = await freshStore();
  const unknown = mintToken().id;
  for (const [what, call] of [
    ['get', () => store.get(unknown)],
    ['renew', () => store.renew(unknown)],
    ['delete', () => store.delete(unknown)],
  ] as const) {
    const error = await rejectionOf(call());
    t.type(error, NotFoundError, what);
    t.match(error, { message: /not found/ }, what);
  }
  t.same(await keysUnder(admin, keys), [], 'nothing is written for an unknown token');
  t.equal(await store.find(unknown), undefined);
});

t.test('bad input throws InputError and writes nothing', async (t) => {
  const { keys, store } = await freshStore();
  const bad = [
    { name: 'x', role: 'admin' },
    { name: 'x', role: 'READ' },
    { name: 'x', role: '' },
    { name: 'x', role: 'read', labelSelector: 'a in (b' },
    { name: 'x', role: 'read', labelSelector: '=x' },
    { name: 'x', role: 'read', labelSelector: 'a,,b' },
    { name: 'x', role: 'read', labelSelector: 'Bad Key=1' },
    { name: '', role: 'read' },
    { name: 'n'.repeat(MAX_TOKEN_NAME_LENGTH + 1), role: 'read' },
    { name: 'line\nbreak', role: 'read' },
    { name: 'tab\there', role: 'read' },
    { name: 'bell\u0007', role: 'read' },
    { name: 'del\u007f', role: 'read' },
  ];
  for (const input of bad) {
    const error = await rejectionOf(store.create(input));
    t.type(error, InputError, JSON.stringify(input));
  }
  t.match(await rejectionOf(store.create({ name: 'x', role: 'admin' })), { message: /role "admin".*read, operator/ });
  t.match(await rejectionOf(store.create({ name: '', role: 'read' })), { message: /name/ });
  t.match(await rejectionOf(store.create({ name: 'x', role: 'read', labelSelector: 'a in (b' })), { message: /selector/ });

  for (const id of ['nope', '', '../etc', mintToken().id.toUpperCase(), `${mintToken().id} `, '*']) {
    for (const [what, call] of [
      ['get', () => store.get(id)],
      ['renew', () => store.renew(id)],
      ['delete', () => store.delete(id)],
    ] as const) {
      t.type(await rejectionOf(call()), InputError, `${what} ${JSON.stringify(id)}`);
    }
  }
  t.same(await keysUnder(admin, keys), [], 'nothing was written');
});

t.test('malformed hand-written records are refused with RecordError', async (t) => {
  const { keys, store } = await freshStore();
  const good = await store.create({ name: 'good', role: 'read' });
  const cases: Array<[string, (id: string) => Record<string, string>]> = [
    ['missing name', (id) => omit(storedTokenHash(id), 'name')],
    ['missing secretHash', (id) => omit(storedTokenHash(id), 'secretHash')],
    ['missing labelSelector', (id) => omit(storedTokenHash(id), 'labelSelector')],
    ['missing version', (id) => omit(storedTokenHash(id), 'version')],
    ['missing createdAt', (id) => omit(storedTokenHash(id), 'createdAt')],
    ['missing id', (id) => omit(storedTokenHash(id), 'id')],
    ['unknown role', (id) => ({ ...storedTokenHash(id), role: 'admin' })],
    ['bad selector', (id) => ({ ...storedTokenHash(id), labelSelector: 'a in (b' })],
    ['short secretHash', (id) => ({ ...storedTokenHash(id), secretHash: 'abc' })],
    ['uppercase secretHash', (id) => ({ ...storedTokenHash(id), secretHash: 'A'.repeat(64) })],
    ['plaintext secret instead of a hash', (id) => ({ ...storedTokenHash(id), secretHash: mintToken(id).value })],
    ['version "x"', (id) => ({ ...storedTokenHash(id), version: 'x' })],
    ['version 0', (id) => ({ ...storedTokenHash(id), version: '0' })],
    ['version -1', (id) => ({ ...storedTokenHash(id), version: '-1' })],
    ['version 1.5', (id) => ({ ...storedTokenHash(id), version: '1.5' })],
    ['id mismatch', (id) => ({ ...storedTokenHash(id), id: mintToken().id })],
    ['empty name', (id) => ({ ...storedTokenHash(id), name: '' })],
    ['control character in name', (id) => ({ ...storedTokenHash(id), name: 'a\nb' })],
    ['createdAt not ISO-8601', (id) => ({ ...storedTokenHash(id), createdAt: 'yesterday' })],
    ['updatedAt with an offset instead of Z', (id) => ({ ...storedTokenHash(id), updatedAt: '2024-01-02T03:04:05+02:00' })],
  ];
  const ids: string[] = [];
  for (const [what, make] of cases) {
    const id = mintToken().id;
    ids.push(id);
    await writeTokenHash(admin, keys, id, make(id));
    const error = await rejectionOf(store.get(id));
    t.type(error, RecordError, what);
    t.match(error, { key: keys.token(id), message: new RegExp(`^malformed record ${keys.token(id)}: `) }, what);
  }

  const listed = await store.list();
  t.equal(listed.length, cases.length + 1, 'list returns one entry per indexed token');
  const records = listed.filter((entry): entry is TokenRecord => !(entry instanceof Error));
  const errors = listed.filter((entry): entry is Error => entry instanceof Error);
  t.same(
    records.map((record) => record.id),
    [good.record.id],
    'the valid record is still listed',
  );
  t.equal(errors.length, cases.length, 'each malformed record is listed as its error');
  for (const error of errors) t.type(error, RecordError);
  t.same(errors.map((error) => (error as RecordError).key).sort(), ids.map((id) => keys.token(id)).sort());
});

t.test('a record under a non-UUID id in the index is listed as malformed', async (t) => {
  const { keys, store } = await freshStore();
  await admin.multi().hset(keys.token('not-a-uuid'), storedTokenHash('not-a-uuid')).sadd(keys.tokens, 'not-a-uuid').exec();
  const listed = await store.list();
  t.equal(listed.length, 1);
  t.type(listed[0], RecordError);
});

t.test('a key of the wrong type (set by hand) is a malformed record', async (t) => {
  const { keys, store } = await freshStore();
  const good = await store.create({ name: 'good', role: 'read' });
  const minted = mintToken();
  await admin.multi().set(keys.token(minted.id), minted.value).sadd(keys.tokens, minted.id).exec();
  t.match(await rejectionOf(store.get(minted.id)), { name: 'RecordError', key: keys.token(minted.id) }, 'get');
  t.match(await rejectionOf(store.resolve(parsed(minted.value))), { name: 'RecordError' }, 'resolve denies');
  t.match(await rejectionOf(store.renew(minted.id)), { name: 'RecordError' }, 'renew refuses');
  t.equal(await admin.get(keys.token(minted.id)), minted.value, 'renew wrote nothing');
  const listed = await store.list();
  t.same(
    listed.filter((entry) => !(entry instanceof Error)).map((entry) => (entry as TokenRecord).id),
    [good.record.id],
    'list keeps the valid token',
  );
  const errors = listed.filter((entry) => entry instanceof Error);
  t.equal(errors.length, 1);
  t.match(errors[0], { name: 'RecordError', key: keys.token(minted.id) }, 'list reports it as a malformed record naming the key, like get');
  await store.delete(minted.id);
  t.same(await keysUnder(admin, keys), [keys.events, keys.token(good.record.id), keys.tokens].sort(), 'delete removes it');
});

t.test('an index entry whose hash is gone is skipped by list', async (t) => {
  const { keys, store } = await freshStore();
  const kept = await store.create({ name: 'kept', role: 'read' });
  await admin.sadd(keys.tokens, mintToken().id);
  t.same(
    ((await store.list()) as TokenRecord[]).map((record) => record.id),
    [kept.record.id],
  );
});

t.test('a hand-written valid record works like a created one', async (t) => {
  const { store, keys } = await freshStore();
  const minted = mintToken();
  await writeTokenHash(admin, keys, minted.id, { ...storedTokenHash(minted.id), secretHash: minted.secretHash });
  t.match(await store.resolve(parsed(minted.value)), { id: minted.id, name: 'hand-made', role: 'read', labelSelector: 'team=a', version: 1 });
});

t.test('renew of a malformed record fails and writes nothing', async (t) => {
  const { keys, store } = await freshStore();
  const messages = await clients.invalidations(keys);
  for (const [what, patch] of [
    ['version "x"', { version: 'x' }],
    ['unknown role', { role: 'admin' }],
    ['bad selector', { labelSelector: 'a in (b' }],
    ['bad secretHash', { secretHash: 'nothex' }],
  ] as const) {
    const id = mintToken().id;
    await writeTokenHash(admin, keys, id, { ...storedTokenHash(id), ...patch });
    const before = await admin.hgetall(keys.token(id));
    const error = await rejectionOf(store.renew(id));
    t.type(error, RecordError, what);
    t.same(await admin.hgetall(keys.token(id)), before, `${what}: the record is unchanged`);
  }
  const missingVersion = mintToken().id;
  await writeTokenHash(admin, keys, missingVersion, omit(storedTokenHash(missingVersion), 'version'));
  t.type(await rejectionOf(store.renew(missingVersion)), RecordError, 'missing version');
  t.equal(await admin.hexists(keys.token(missingVersion), 'version'), 0, 'no version is invented');

  // A change published after the failed renews arrives first: none of them announced anything.
  const marker = await store.create({ name: 'marker', role: 'read' });
  await messages.count(1);
  t.same(messages.seen, [`token:${marker.record.id}`]);
});

t.test('delete of a malformed record removes it', async (t) => {
  const { keys, store } = await freshStore();
  const id = mintToken().id;
  await writeTokenHash(admin, keys, id, { ...storedTokenHash(id), role: 'root' });
  await store.delete(id);
  t.same(await keysUnder(admin, keys), [keys.events], 'the record is gone, its delete recorded');
});

t.test('a hung Redis: create fails with StoreUnavailableError and leaves nothing half-written', async (t) => {
  const keys = freshSpace();
  const redis = await clients.connect(300, true);
  const store = new TokenStore(redis, keys);
  await store.create({ name: 'before', role: 'read' });

  server.pause();
  let error: unknown;
  try {
    error = await rejectionOf(store.create({ name: 'during', role: 'read', labelSelector: 'team=a' }));
  } finally {
    server.resume();
  }
  t.type(error, StoreUnavailableError);

  // Same connection, so the PING answers only after whatever the server had queued.
  t.equal(await redis.ping(), 'PONG');
  const indexed = (await admin.smembers(keys.tokens)).sort();
  const hashes = (await admin.keys(`${keys.prefix}token:*`)).map((key) => key.slice(keys.token('').length)).sort();
  t.same(hashes, indexed, 'every hash is indexed and every index entry has a hash');
  for (const record of await store.list()) t.notOk(record instanceof Error, 'every record is whole');
  t.ok(indexed.length === 1 || indexed.length === 2, 'the token was written whole or not at all');
  t.match(await store.create({ name: 'after', role: 'read' }), { record: { name: 'after' } }, 'the store works again');
});

function omit(hash: Record<string, string>, field: string): Record<string, string> {
  const copy = { ...hash };
  delete copy[field];
  return copy;
}
