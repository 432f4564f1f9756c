import fc from 'fast-check';
import t from 'tap';
import { inspectApiBody, mergeCreateLabels, checkRelabel } from '../../src/api/body.js';
import { scanJsonKeys } from '../../src/api/json-keys.js';
import { parseSelector, type Labels } from '../../src/selector/index.js';
import { check } from '../helpers/property.js';

const JSON_TYPE = 'application/json';
const SELECTOR = parseSelector('team=a');
const JOB_LABELS: Labels = new Map([['team', 'a']]);

/** Letters an upstream that folds case could read as each ASCII letter (Unicode simple case-fold orbits). */
const FOLD_ORBITS: Record<string, string[]> = { k: ['k', 'K', '\u212a'], s: ['s', 'S', '\u017f'] };
const orbit = (c: string): string[] => FOLD_ORBITS[c.toLowerCase()] ?? (c.toLowerCase() === c.toUpperCase() ? [c] : [c.toLowerCase(), c.toUpperCase()]);

/** A key that a case-insensitive parser would read as `key`: each letter picked from its orbit (possibly `key` itself). */
const variantOf = (key: string): fc.Arbitrary<string> => fc.tuple(...[...key].map((c) => fc.constantFrom(...orbit(c)))).map((chars) => chars.join(''));

/** JSON text for a string, each character possibly written as a \u escape. */
const jsonString = (value: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: value.length, maxLength: value.length })
    .map(
      (escape) =>
        `"${[...value].map((c, i) => (escape[i] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : JSON.stringify(c).slice(1, -1))).join('')}"`,
    );

const ws = fc.constantFrom('', ' ', '\n', '\t', ' \r\n ');

/** An object's JSON text from [key text, value text] members, with random whitespace. */
const objectText = (members: ReadonlyArray<readonly [string, string]>): fc.Arbitrary<string> =>
  fc.array(ws, { minLength: members.length * 4 + 2, maxLength: members.length * 4 + 2 }).map((spaces) => {
    let k = 0;
    const s = () => spaces[k++]!;
    return `${s()}{${members.map(([key, value]) => `${s()}${key}${s()}:${s()}${value}${s()}`).join(',')}${s()}}`;
  });

const labelName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const labelValue = fc.stringMatching(/^[a-z0-9]{0,6}$/);
/** Keys for fields jobgate does not read (never folding to "labels"). */
const otherKey = fc.string({ maxLength: 8 }).filter((key) => key.toUpperCase().toLowerCase() !== 'labels');

/** Label maps whose keys are distinct even case-insensitively, with team=a when `withTeam`. */
const labelsMap = (withTeam: boolean) =>
  fc.uniqueArray(fc.tuple(labelName, labelValue), { maxLength: 5, selector: ([key]) => key.toUpperCase().toLowerCase() }).map((pairs) => {
    const labels = pairs.filter(([key]) => key.toUpperCase().toLowerCase() !== 'team');
    if (withTeam) labels.splice(labels.length > 0 ? 1 : 0, 0, ['team', 'a']);
    return labels;
  });

const others = fc.uniqueArray(fc.tuple(otherKey, fc.jsonValue({ maxDepth: 3 })), { maxLength: 4, selector: ([key]) => key });

/** Members as JSON text: [key text, value text]. */
const membersText = (pairs: ReadonlyArray<readonly [string, unknown]>): fc.Arbitrary<Array<[string, string]>> =>
  pairs.length === 0 ? fc.constant([]) : fc.tuple(...pairs.map(([key, value]) => jsonString(key).map((k): [string, string] => [k, JSON.stringify(value)])));

/** A create body that is clean: unique top-level keys, "labels" once (or absent) with unique labels. */
const cleanCreate = (withTeam: boolean) =>
  fc.record({ labels: labelsMap(withTeam), others, hasLabels: fc.boolean(), at: fc.nat() }).chain(({ labels, others, hasLabels, at }) =>
    fc.tuple(membersText(labels), membersText(others), jsonString('labels')).chain(([labelMembers, otherMembers, labelsKey]) =>
      objectText(labelMembers).chain((labelsText) => {
        const members = [...otherMembers];
        if (hasLabels || labels.length > 0) members.splice(at % (members.length + 1), 0, [labelsKey, labelsText]);
        return objectText(members).map((text) => ({ text, labels, others, members, labelMembers }));
      }),
    ),
  );

t.test('create bodies without repeated or case-variant keys are accepted and forwarded byte for byte', async () => {
  check(
    fc.property(cleanCreate(true), ({ text, labels, others }) => {
      const body = Buffer.from(text);
      const result = mergeCreateLabels(SELECTOR, JSON_TYPE, body);
      if (!result.ok) throw new Error(`refused: ${result.message}`);
      if (!result.body.equals(body)) throw new Error(`changed: ${result.body.toString()}`);
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (JSON.stringify(parsed.labels) !== JSON.stringify(Object.fromEntries(labels))) throw new Error('labels read differently');
      if (Object.keys(parsed).length !== others.length + 1) throw new Error('members lost');
    }),
  );
});

t.test('create bodies that lack the selector labels get them inserted, nothing else changed', async () => {
  check(
    fc.property(cleanCreate(false), ({ text, labels }) => {
      const result = mergeCreateLabels(SELECTOR, JSON_TYPE, Buffer.from(text));
      if (!result.ok) throw new Error(`refused: ${result.message}`);
      const forwarded = result.body.toString();
      const parsed = JSON.parse(forwarded) as { labels: Record<string, string> };
      if (JSON.stringify(parsed.labels) !== JSON.stringify({ ...Object.fromEntries(labels), team: 'a' })) throw new Error(`labels: ${forwarded}`);
      // Removing the one insertion gives the original text back.
      let i = 0;
      while (forwarded[i] === text[i]) i++;
      const tail = text.slice(i);
      if (!forwarded.endsWith(tail)) throw new Error('more than one change');
      const inserted = forwarded.slice(i, forwarded.length - tail.length);
      if (!/^,?("labels":\{)?"team":"a"\}?$/.test(inserted)) throw new Error(`inserted ${inserted}`);
    }),
  );
});

/**
 * A create body with one conflicting key injected where jobgate reads: a variant of "labels"
 * (possibly "labels" itself, i.e. a repeat) beside the top-level "labels", or a variant of a
 * label key (possibly the key itself) inside "labels". Keys may be written with \u escapes.
 */
const injectedCreate = fc
  .record({
    labels: labelsMap(true),
    others,
    level: fc.constantFrom('top', 'labels'),
    target: fc.constantFrom('team', 'kind', 'ask', 'x'),
    at: fc.nat(),
    atInjected: fc.nat(),
    junk: fc.oneof(fc.constant({ team: 'b' }), fc.jsonValue({ maxDepth: 2 })),
  })
  .chain(({ labels, others, level, target, at, atInjected, junk }) => {
    const labelPairs = level === 'labels' && !labels.some(([key]) => key === target) ? [...labels, [target, 'v'] as [string, string]] : labels;
    const injectedKey = (level === 'labels' ? variantOf(target) : variantOf('labels')).chain(jsonString);
    return fc
      .tuple(membersText(labelPairs), membersText(others), jsonString('labels'), injectedKey)
      .chain(([labelMembers, otherMembers, labelsKey, injected]) => {
        if (level === 'labels') labelMembers.splice(atInjected % (labelMembers.length + 1), 0, [injected, '"b"']);
        return objectText(labelMembers).chain((labelsText) => {
          const members = [...otherMembers];
          members.splice(at % (members.length + 1), 0, [labelsKey, labelsText]);
          if (level === 'top') members.splice(atInjected % (members.length + 1), 0, [injected, JSON.stringify(junk)]);
          return objectText(members);
        });
      });
  });

const ambiguous = /appears more than once|only in letter case/;

t.test('a repeated or case-variant "labels", or label key inside it, is always refused (400)', async () => {
  check(
    fc.property(injectedCreate, (text) => {
      const result = mergeCreateLabels(SELECTOR, JSON_TYPE, Buffer.from(text));
      if (result.ok || result.status !== 400 || result.reason !== 'bad_body' || !ambiguous.test(result.message)) {
        throw new Error(`not refused as ambiguous: ${JSON.stringify(result.ok ? result.body.toString() : result)}`);
      }
    }),
    500,
  );
});

const injectedRelabel = fc
  .record({ first: fc.constantFrom('name', 'value'), target: fc.constantFrom('name', 'value'), at: fc.nat() })
  .chain(({ first, target, at }) =>
    fc.tuple(jsonString('name'), jsonString('value'), variantOf(target).chain(jsonString)).chain(([name, value, injected]) => {
      const members: Array<[string, string]> =
        first === 'name'
          ? [
              [name, '"env"'],
              [value, '"x"'],
            ]
          : [
              [value, '"x"'],
              [name, '"env"'],
            ];
      members.splice(at % 3, 0, [injected, '"team"']);
      return objectText(members);
    }),
  );

t.test('a repeated or case-variant "name" or "value" in a label change is always refused (400)', async () => {
  check(
    fc.property(injectedRelabel, (text) => {
      const result = checkRelabel(SELECTOR, JOB_LABELS, JSON_TYPE, Buffer.from(text));
      if (result.ok || result.status !== 400 || !ambiguous.test(result.message)) throw new Error(`not refused: ${JSON.stringify(result)}`);
    }),
  );
});

/** JSON text with one character inserted, deleted or replaced: mostly invalid, sometimes not. */
const nearJson = fc
  .tuple(
    fc.json({ maxDepth: 3 }),
    fc.nat(),
    fc.constantFrom('insert', 'delete', 'replace'),
    fc.constantFrom(...'{}[],:"\\u0e-.+ \n\u0001tnfEx\u00e9\ud800\ufeff'.split('')),
  )
  .map(([text, at, how, c]) => {
    const i = at % (text.length + 1);
    if (how === 'insert') return text.slice(0, i) + c + text.slice(i);
    if (how === 'delete') return text.slice(0, i) + text.slice(i + 1);
    return text.slice(0, i) + c + text.slice(i + 1);
  });

t.test('the scanner accepts exactly what JSON.parse accepts', async () => {
  check(
    fc.property(fc.oneof(nearJson, fc.json(), fc.string({ unit: 'binary', maxLength: 40 })), (text) => {
      const scan = scanJsonKeys(text, 0, { keys: [] });
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      if (scan.ok !== parses) throw new Error(`scanner ${JSON.stringify(scan)}, JSON.parse ${parses} for ${JSON.stringify(text)}`);
    }),
    2000,
  );
});

t.test('the body check answers every input with a result or its typed refusal, never an exception', async () => {
  const statuses = new Set([400, 403, 413, 415]);
  const bodies = fc.oneof(
    nearJson.map((text) => Buffer.from(text)),
    injectedCreate.map((text) => Buffer.from(text)),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    fc.string({ unit: 'binary', maxLength: 64 }).map((text) => Buffer.from(text)),
  );
  check(
    fc.property(bodies, fc.constantFrom('create', 'relabel'), fc.constantFrom(JSON_TYPE, 'text/plain', undefined), (body, op, contentType) => {
      const check = op === 'create' ? ({ op, selector: SELECTOR } as const) : ({ op, selector: SELECTOR, jobLabels: JOB_LABELS } as const);
      const result = inspectApiBody(check, { 'content-type': contentType }, body, 48);
      if (result.ok) {
        if (!Buffer.isBuffer(result.body)) throw new Error('no body');
      } else if (!statuses.has(result.status) || typeof result.message !== 'string' || result.message === '') {
        throw new Error(`untyped refusal ${JSON.stringify(result)}`);
      }
    }),
    1000,
  );
});
