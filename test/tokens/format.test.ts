import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  checkToken,
  isTokenId,
  mintToken,
  newTokenId,
  parseToken,
  sameDigest,
  TOKEN_CHECK_LENGTH,
  TOKEN_ID_LENGTH,
  TOKEN_LENGTH,
  TOKEN_PREFIX,
  TOKEN_SECRET_LENGTH,
  tokenShape,
} from '../../src/tokens/format.js';
import { sha256Hex } from '../helpers/fixtures.js';

const ID = '0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b';
const HEX = '0123456789abcdef';

/** Builds `jgt_<id>_<secret>_<check>` by hand, with a correct checksum unless one is given. */
function build(id: string, secret: string, check?: string): string {
  const body = `${TOKEN_PREFIX}${id}_${secret}`;
  return `${body}_${check ?? sha256Hex(body).slice(0, TOKEN_CHECK_LENGTH)}`;
}

/** Another character of the same class (hex stays hex, so only the checksum can catch it). */
function otherChar(c: string): string {
  if (HEX.includes(c)) return HEX[(HEX.indexOf(c) + 1) % HEX.length] as string;
  if (c === '_') return '-';
  if (c === '-') return '_';
  return c === 'j' ? 'k' : 'j';
}

t.test('the length constant adds up: jgt_ + uuid + _ + 64 hex + _ + 8 hex', async (t) => {
  t.equal(TOKEN_PREFIX, 'jgt_');
  t.equal(TOKEN_ID_LENGTH, 36);
  t.equal(TOKEN_SECRET_LENGTH, 64);
  t.equal(TOKEN_CHECK_LENGTH, 8);
  t.equal(TOKEN_LENGTH, 4 + 36 + 1 + 64 + 1 + 8);
  t.equal(TOKEN_LENGTH, 114);
});

t.test('mint then parse round-trips, with the id embedded', async (t) => {
  for (let i = 0; i < 50; i++) {
    const minted = mintToken();
    t.equal(minted.value.length, TOKEN_LENGTH, 'every value has TOKEN_LENGTH characters');
    t.ok(isTokenId(minted.id), 'the id is a lowercase UUID');
    t.equal(minted.value.slice(4, 40), minted.id, 'the id is embedded after the prefix');
    const parsed = parseToken(minted.value);
    if (!parsed) {
      t.fail(`${minted.value} does not parse`);
      continue;
    }
    t.equal(parsed.id, minted.id);
  }
});

t.test('mintToken keeps a given id (renew) and refuses a non-UUID id', async (t) => {
  const minted = mintToken(ID);
  t.equal(minted.id, ID);
  t.equal(parseToken(minted.value)?.id, ID);
  t.not(mintToken(ID).value, minted.value, 'same id, fresh secret');
  for (const bad of ['', 'nope', ID.toUpperCase(), `${ID}0`, ID.replace(/-/g, '')]) {
    // The message names the id and what an id is: an admin script's mistake reads as one.
    t.throws(() => mintToken(bad), new TypeError(`invalid token id "${bad}": expected a lowercase UUID`), JSON.stringify(bad));
  }
});

t.test('newTokenId returns distinct lowercase UUIDs', async (t) => {
  const ids = new Set(Array.from({ length: 100 }, () => newTokenId()));
  t.equal(ids.size, 100);
  for (const id of ids) t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

t.test('the value is URL-safe and the secret has 256 bits as 64 lowercase hex', async (t) => {
  const secrets = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const { value } = mintToken();
    t.match(value, /^[A-Za-z0-9_-]+$/, 'only URL-safe characters');
    t.equal(encodeURIComponent(value), value, 'survives URL encoding unchanged');
    t.match(value, /^jgt_[0-9a-f-]{36}_[0-9a-f]{64}_[0-9a-f]{8}$/);
    secrets.add(value.slice(41, 105));
  }
  t.equal(secrets.size, 50, 'secrets are random');
});

t.test('secretHash and the parsed digest are SHA-256 of the body; the check is its first 8 hex', async (t) => {
  const minted = mintToken();
  const body = minted.value.slice(0, TOKEN_LENGTH - TOKEN_CHECK_LENGTH - 1);
  t.equal(body, `jgt_${minted.id}_${minted.value.slice(41, 105)}`);
  t.equal(minted.secretHash, sha256Hex(body));
  t.match(minted.secretHash, /^[0-9a-f]{64}$/);
  t.equal(minted.value.slice(-TOKEN_CHECK_LENGTH), minted.secretHash.slice(0, TOKEN_CHECK_LENGTH));
  const parsed = parseToken(minted.value);
  t.ok(parsed);
  t.equal(parsed?.digest, minted.secretHash);
});

t.test('sameDigest: equal only for the same text of the same length', async (t) => {
  const digest = mintToken().secretHash;
  t.ok(sameDigest(digest, `${digest}`));
  t.ok(sameDigest('', ''));
  for (const position of [0, 31, 63]) {
    const flipped = digest.slice(0, position) + (digest[position] === 'a' ? 'b' : 'a') + digest.slice(position + 1);
    t.notOk(sameDigest(digest, flipped), `differs at ${position}`);
  }
  t.notOk(sameDigest(digest, digest.slice(0, 63)), 'a prefix is not equal');
  t.notOk(sameDigest(digest.slice(0, 63), digest));
});

t.test('a value built by hand from the documented recipe parses (scripts can mint)', async (t) => {
  const value = build(ID, 'ab'.repeat(32));
  t.equal(value.length, TOKEN_LENGTH);
  const parsed = parseToken(value);
  t.equal(parsed?.id, ID);
  t.equal(parsed?.digest, sha256Hex(`jgt_${ID}_${'ab'.repeat(32)}`));
});

t.test('changing any single character anywhere makes the value invalid', async (t) => {
  for (let round = 0; round < 5; round++) {
    const { value } = mintToken();
    for (let i = 0; i < value.length; i++) {
      const original = value[i] as string;
      const candidates = new Set([otherChar(original), original.toUpperCase() === original ? 'x' : original.toUpperCase(), 'z', '_', '-', '0']);
      candidates.delete(original);
      for (const replacement of candidates) {
        const tampered = value.slice(0, i) + replacement + value.slice(i + 1);
        if (parseToken(tampered) !== undefined) t.fail(`position ${i}: ${JSON.stringify(original)} -> ${JSON.stringify(replacement)} still parses`);
      }
    }
  }
  t.pass('no single-character change survived');
});

t.test('a wrong checksum is refused even when everything else is well-formed', async (t) => {
  const secret = 'cd'.repeat(32);
  const good = build(ID, secret);
  t.ok(parseToken(good));
  const check = good.slice(-8);
  t.not(check, '00000000');
  t.equal(parseToken(build(ID, secret, '00000000')), undefined, 'zeros');
  const otherCheck = build(ID, 'ef'.repeat(32)).slice(-8);
  t.not(otherCheck, check);
  t.equal(parseToken(build(ID, secret, otherCheck)), undefined, "another secret's checksum");
  const otherIdCheck = build('1b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b', secret).slice(-8);
  t.equal(parseToken(build(ID, secret, otherIdCheck)), undefined, "another id's checksum");
});

t.test('the shape is read without hashing; the checksum is checked apart', async (t) => {
  const secret = 'cd'.repeat(32);
  const wrong = build(ID, secret, '00000000');
  const presented = tokenShape(wrong);
  t.same(presented, { id: ID, value: wrong }, 'a wrong checksum still has the shape');
  t.equal(checkToken(presented!), undefined);
  const good = tokenShape(build(ID, secret))!;
  t.same(checkToken(good), parseToken(build(ID, secret)), 'checkToken after tokenShape is parseToken');
  t.equal(tokenShape(build(ID, secret).toUpperCase()), undefined, 'uppercase is not the shape');
});

t.test('wrong prefix', async (t) => {
  const { value } = mintToken();
  for (const prefix of ['jgx_', 'JGT_', 'gjt_', 'jgt-', 'ovh_']) {
    t.equal(parseToken(prefix + value.slice(4)), undefined, prefix);
  }
  t.equal(parseToken(value.slice(4)), undefined, 'no prefix at all');
  t.equal(parseToken(`Bearer ${value}`), undefined, 'with a scheme in front');
});

t.test('wrong length', async (t) => {
  const { value } = mintToken();
  t.equal(parseToken(''), undefined, 'empty');
  t.equal(parseToken('jgt_'), undefined, 'prefix only');
  t.equal(parseToken(value.slice(0, -1)), undefined, 'one short');
  t.equal(parseToken(`${value}0`), undefined, 'one long');
  t.equal(parseToken(`${value} `), undefined, 'trailing space');
  t.equal(parseToken(` ${value}`), undefined, 'leading space');
  t.equal(parseToken(`${value}\n`), undefined, 'trailing newline');
  t.equal(parseToken(value + value), undefined, 'twice');
  // Right length, but the parts are shifted: a 35-character id.
  const shifted = build(ID.slice(0, 35), `${'ab'.repeat(32)}0`);
  t.equal(shifted.length, TOKEN_LENGTH);
  t.equal(parseToken(shifted), undefined, 'parts shifted by one');
});

t.test('uppercase hex is refused (in the id, the secret and the check)', async (t) => {
  const secret = 'ab'.repeat(32);
  t.equal(parseToken(build(ID.toUpperCase(), secret)), undefined, 'uppercase id, matching checksum');
  t.equal(parseToken(build(ID, secret.toUpperCase())), undefined, 'uppercase secret, matching checksum');
  // A value whose check has letters: uppercasing them keeps the same checksum bytes.
  let good = mintToken().value;
  while (!/[a-f]/.test(good.slice(-8))) good = mintToken().value;
  t.ok(parseToken(good));
  t.equal(parseToken(good.slice(0, -8) + good.slice(-8).toUpperCase()), undefined, 'uppercase check');
  const { value } = mintToken();
  t.equal(parseToken(value.toUpperCase()), undefined, 'the whole value in uppercase');
});

t.test('bad separators are refused even with a matching checksum', async (t) => {
  const secret = '01'.repeat(32);
  const good = build(ID, secret);
  for (const [i, sep] of [
    [40, '-'],
    [40, '.'],
    [105, '-'],
    [105, ':'],
    [3, '-'],
  ] as const) {
    const body = good.slice(0, i) + sep + good.slice(i + 1, 105);
    const value = i === 105 ? `${good.slice(0, 105)}${sep}${good.slice(106)}` : `${body}_${sha256Hex(body).slice(0, 8)}`;
    t.equal(value.length, TOKEN_LENGTH);
    t.equal(parseToken(value), undefined, `separator ${JSON.stringify(sep)} at ${i}`);
  }
});

t.test('non-UUID ids are refused even with a matching checksum', async (t) => {
  const secret = '23'.repeat(32);
  const badIds = [
    '0b5c2a368f1e-4a8e-9a57-1c2d3e4f5a6b-', // dashes in the wrong places
    '0b5c2a36_8f1e_4a8e_9a57_1c2d3e4f5a6b', // underscores instead of dashes
    'gb5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6b', // not hex
    '0b5c2a36-8f1e-4a8e-9a57-1c2d3e4f5a6-', // dash at the end
    '------------------------------------',
    '0b5c2a36-8f1e-4a8e-9a57+1c2d3e4f5a6b',
  ];
  for (const id of badIds) {
    t.equal(id.length, 36);
    t.equal(parseToken(build(id, secret)), undefined, id);
    t.notOk(isTokenId(id), `isTokenId(${id})`);
  }
  t.ok(isTokenId(ID));
  t.notOk(isTokenId(ID.toUpperCase()));
  t.notOk(isTokenId(`${ID} `));
});

t.test('a secret that is not 64 hex is refused even with a matching checksum', async (t) => {
  for (const secret of ['g'.repeat(64), `${'a'.repeat(63)}_`, `${'a'.repeat(63)}-`, `${'a'.repeat(63)} `]) {
    t.equal(parseToken(build(ID, secret)), undefined, secret);
  }
});

t.test('non-ASCII look-alikes are refused', async (t) => {
  const { value } = mintToken();
  // U+0430 CYRILLIC SMALL LETTER A in place of an 'a' (or the first hex digit of the secret).
  const i = value.indexOf('a', 41) >= 0 ? value.indexOf('a', 41) : 41;
  t.equal(parseToken(value.slice(0, i) + '\u0430' + value.slice(i + 1)), undefined);
});

t.test('the worked example in docs/redis-schema.md is right', async (t) => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/redis-schema.md', import.meta.url)), 'utf8');
  const value = /^value {3}= (\S+)$/m.exec(doc)?.[1] ?? '';
  const secretHash = /^sha256\(body\) = ([0-9a-f]{64})/m.exec(doc)?.[1] ?? '';
  const parsed = parseToken(value);
  t.ok(parsed, `${value} parses`);
  t.equal(parsed?.id, ID);
  t.equal(parsed?.digest, secretHash);
  t.equal(secretHash, sha256Hex(value.slice(0, TOKEN_LENGTH - TOKEN_CHECK_LENGTH - 1)));
  t.match(doc, `secretHash     ${secretHash}`, 'the example record holds the same secretHash');
});
