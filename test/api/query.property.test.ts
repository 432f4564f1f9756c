import fc from 'fast-check';
import t from 'tap';
import { LABEL_SELECTOR_PARAM, scopeListQuery } from '../../src/api/query.js';
import { formatSelector, parseSelector } from '../../src/selector/index.js';
import { check } from '../helpers/property.js';

const SELECTOR = parseSelector('team=a,env!=prod');
const TOKEN_SELECTOR = formatSelector(SELECTOR);

/**
 * A model of the frameworks that bind query parameters loosely, written independently of the
 * implementation: a name binds to labelSelector when, after percent-decoding, without an index
 * suffix (`[...]`) and without `_`, `-`, `.` or spaces, each character is in the Unicode simple
 * case-fold orbit of the matching letter of "labelselector" (`ſ` U+017F with `s`).
 */
const ORBITS: Record<string, string> = { l: 'lL', a: 'aA', b: 'bB', e: 'eE', s: 'sS\u017f', c: 'cC', t: 'tT', o: 'oO', r: 'rR' };
function bindsToSelector(decodedName: string): boolean {
  const base = decodedName.split('[')[0]!;
  const chars = [...base].filter((c) => !' _-.'.includes(c));
  const target = 'labelselector';
  return chars.length === target.length && chars.every((c, i) => ORBITS[target[i]!]!.includes(c));
}

function decode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** The names of a raw query as an upstream splitting on `&` and `;` would see them, decoded. */
function names(query: string): Array<{ name: string | undefined; value: string }> {
  if (query === '') return [];
  return query.split(/[&;]/).map((piece) => {
    const eq = piece.indexOf('=');
    return { name: decode(eq === -1 ? piece : piece.slice(0, eq)), value: eq === -1 ? '' : piece.slice(eq + 1) };
  });
}

/** Percent-encodes some characters of `text` (any case of hex digits), leaving the rest. */
const sometimesEncoded = (text: string): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom('raw', 'lower', 'upper'), { minLength: text.length, maxLength: text.length }).map((how) =>
    [...text]
      .map((c, i) => {
        if (how[i] === 'raw' && /^[A-Za-z0-9_.~\-[\]]$/.test(c)) return c;
        const encoded = encodeURIComponent(c).replace(/[!'()*[\]]/g, (x) => `%${x.charCodeAt(0).toString(16).toUpperCase()}`);
        const hex = encoded === c ? `%${c.charCodeAt(0).toString(16).padStart(2, '0')}` : encoded;
        return how[i] === 'lower' ? hex.toLowerCase() : hex.toUpperCase();
      })
      .join(''),
  );

/** labelSelector spelled as some framework would still bind it (or exactly). */
const selectorVariant: fc.Arbitrary<string> = fc
  .tuple(
    fc.tuple(...[...'labelselector'].map((c) => fc.constantFrom(...ORBITS[c]!))),
    fc.constantFrom('', '[]', '[0]', '[x]'),
    fc.nat(12),
    fc.constantFrom('', '_', '-', '.'),
  )
  .map(([chars, suffix, at, separator]) => {
    const name = chars.join('');
    return name.slice(0, at) + separator + name.slice(at) + suffix;
  });

const plainName = fc.constantFrom('page', 'size', 'labels', 'selector', 'labelSelectorX', 'label', 'x', '', 'statusState');
const value = fc.constantFrom('', '1', 'team%3Db', 'team=b', 'a+b', '%20', 'env%20in%20(dev)');

/** A query of plain parameters, possibly with loose and exact labelSelector names among them. */
const query = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.tuple(plainName.chain(sometimesEncoded), value) },
      { weight: 1, arbitrary: fc.tuple(selectorVariant.chain(sometimesEncoded), value) },
      { weight: 1, arbitrary: fc.tuple(fc.constant(LABEL_SELECTOR_PARAM), value) },
    ),
    { maxLength: 5 },
  )
  .map((params) => params.map(([name, v]) => (v === '' && name !== '' ? name : `${name}=${v}`)).join('&'));

t.test('the forwarded query has one name that binds to labelSelector, exactly spelled, carrying the token selector', async () => {
  check(
    fc.property(query, (raw) => {
      const result = scopeListQuery(SELECTOR, raw);
      if (!result.ok) return;
      const bound = names(result.query).filter(({ name }) => name !== undefined && bindsToSelector(name));
      if (bound.length !== 1) throw new Error(`${bound.length} selector parameters in ${result.query}`);
      if (bound[0]!.name !== LABEL_SELECTOR_PARAM) throw new Error(`forwarded as ${bound[0]!.name}`);
      const forwarded = decode(bound[0]!.value)!;
      if (!forwarded.startsWith(TOKEN_SELECTOR)) throw new Error(`selector ${forwarded}`);
      parseSelector(forwarded);
    }),
    1000,
  );
});

t.test('a query is refused whenever a name other than exactly labelSelector would bind to it', async () => {
  check(
    fc.property(query, (raw) => {
      const loose = names(raw).some(({ name }) => name !== undefined && name !== LABEL_SELECTOR_PARAM && bindsToSelector(name));
      const result = scopeListQuery(SELECTOR, raw);
      if (loose && result.ok) throw new Error(`accepted: ${result.query}`);
      if (!result.ok && (result.status !== 400 || result.reason !== 'bad_query')) throw new Error(`untyped refusal ${JSON.stringify(result)}`);
    }),
    1000,
  );
});

t.test('queries without loose names are forwarded with every other parameter byte for byte', async () => {
  const clean = fc
    .array(fc.tuple(plainName.chain(sometimesEncoded), value), { maxLength: 5 })
    .map((params) => params.map(([name, v]) => `${name}=${v}`).join('&'));
  check(
    fc.property(clean, (raw) => {
      const result = scopeListQuery(SELECTOR, raw);
      if (!result.ok) throw new Error(`refused ${raw}: ${result.message}`);
      const expected = `${raw === '' ? '' : `${raw}&`}${LABEL_SELECTOR_PARAM}=${encodeURIComponent(TOKEN_SELECTOR)}`;
      if (result.query !== expected) throw new Error(`${result.query} !== ${expected}`);
    }),
  );
});

t.test('the query check answers any string with a query or its typed refusal', async () => {
  check(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), query), (raw) => {
      const result = scopeListQuery(SELECTOR, raw);
      if (result.ok ? typeof result.query !== 'string' : result.status !== 400) throw new Error(JSON.stringify(result));
    }),
    1000,
  );
});
