/**
 * Properties of the token format (src/tokens/format.ts), against an oracle written from the
 * documented contract: `jgt_<uuid>_<64 hex>_<first 8 hex of SHA-256 of what precedes>`, all
 * lowercase, nothing before or after.
 */
import fc from 'fast-check';
import t from 'tap';
import { checkToken, mintToken, parseToken, sameDigest, TOKEN_LENGTH, tokenShape } from '../../src/tokens/format.js';
import { sha256Hex } from '../helpers/fixtures.js';
import { check } from '../helpers/property.js';

const SHAPE = /^jgt_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})_[0-9a-f]{64}_([0-9a-f]{8})$/;

/** The oracle: what parseToken must return for `text` (id and digest), or undefined. */
function expectedParse(text: string): { id: string; digest: string } | undefined {
  const shape = SHAPE.exec(text);
  if (shape === null) return undefined;
  const digest = sha256Hex(text.slice(0, -9));
  return digest.startsWith(shape[2]!) ? { id: shape[1]!, digest } : undefined;
}

const hex = fc.constantFrom(...'0123456789abcdef'.split(''));
const hexRun = (length: number): fc.Arbitrary<string> => fc.array(hex, { minLength: length, maxLength: length }).map((c) => c.join(''));
const tokenId = fc.tuple(hexRun(8), hexRun(4), hexRun(4), hexRun(4), hexRun(12)).map((parts) => parts.join('-'));

/** A well-formed token built by hand from a generated id and secret. */
const builtToken = fc.tuple(tokenId, hexRun(64)).map(([id, secret]) => {
  const body = `jgt_${id}_${secret}`;
  return `${body}_${sha256Hex(body).slice(0, 8)}`;
});

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Characters a mutation is most likely to sneak past a sloppy check with. */
const nearChar = fc.oneof(hex, fc.constantFrom('A', 'F', 'g', '_', '-', 'j', ' ', '\0', '\u0660', 'ａ'), codeUnit);

function parseMatchesOracle(text: string): void {
  const expected = expectedParse(text);
  const shape = tokenShape(text);
  if ((shape !== undefined) !== SHAPE.test(text)) throw new Error(`tokenShape disagrees on ${JSON.stringify(text)}`);
  const parsed = parseToken(text);
  if (expected === undefined) {
    if (parsed !== undefined) throw new Error(`${JSON.stringify(text)} parsed as a token`);
    if (shape !== undefined && checkToken(shape) !== undefined) throw new Error(`${JSON.stringify(text)} passed checkToken`);
    return;
  }
  if (parsed === undefined || parsed.id !== expected.id || parsed.digest !== expected.digest) {
    throw new Error(`${JSON.stringify(text)} parsed as ${JSON.stringify(parsed)}, expected ${JSON.stringify(expected)}`);
  }
}

t.test('minted tokens always parse, check and carry their id and hash', async (t) => {
  await check(
    fc.property(tokenId, (id) => {
      const minted = mintToken(id);
      const parsed = parseToken(minted.value);
      if (minted.value.length !== TOKEN_LENGTH || parsed === undefined || parsed.id !== id) throw new Error(`${minted.value} does not parse as ${id}`);
      if (!sameDigest(parsed.digest, minted.secretHash)) throw new Error('the digest is not the secretHash');
      parseMatchesOracle(minted.value);
    }),
  );
  await check(fc.property(builtToken, (value) => parseMatchesOracle(value)));
  t.pass();
});

t.test('any single-character change, truncation or extension is refused', async (t) => {
  const changed = fc
    .tuple(builtToken, fc.nat({ max: TOKEN_LENGTH - 1 }), nearChar)
    .filter(([value, at, c]) => value[at] !== c)
    .map(([value, at, c]) => value.slice(0, at) + c + value.slice(at + 1));
  const truncated = fc
    .tuple(builtToken, fc.nat({ max: TOKEN_LENGTH - 1 }), fc.boolean())
    .map(([value, cut, fromEnd]) => (fromEnd ? value.slice(0, cut) : value.slice(TOKEN_LENGTH - cut)));
  const extended = fc
    .tuple(builtToken, fc.string({ unit: nearChar, minLength: 1, maxLength: 4 }), fc.constantFrom('before', 'after', 'inside'), fc.nat({ max: TOKEN_LENGTH }))
    .map(([value, extra, where, at]) =>
      where === 'before' ? extra + value : where === 'after' ? value + extra : value.slice(0, at) + extra + value.slice(at),
    );
  await check(
    fc.property(fc.oneof(changed, truncated, extended), (text) => {
      if (parseToken(text) !== undefined) throw new Error(`${JSON.stringify(text)} was accepted`);
      parseMatchesOracle(text);
    }),
    2000,
  );
  t.pass();
});

t.test('arbitrary strings never throw and parse only with the exact shape and checksum', async (t) => {
  const tokenShaped = fc.tuple(tokenId, hexRun(64), hexRun(8)).map(([id, secret, checksum]) => `jgt_${id}_${secret}_${checksum}`);
  const mutated = fc
    .tuple(fc.oneof(builtToken, tokenShaped), fc.array(fc.tuple(fc.nat({ max: TOKEN_LENGTH - 1 }), nearChar), { maxLength: 3 }))
    .map(([value, edits]) => edits.reduce((text, [at, c]) => text.slice(0, at) + c + text.slice(at + 1), value));
  await check(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.string({ unit: nearChar, minLength: TOKEN_LENGTH - 2, maxLength: TOKEN_LENGTH + 2 }),
        tokenShaped,
        mutated,
      ),
      (text) => {
        parseMatchesOracle(text);
      },
    ),
    2000,
  );
  t.pass();
});
