import t from 'tap';
import { MAX_JSON_DEPTH, foldKey, scanJsonKeys, type WatchedObject } from '../../src/api/json-keys.js';

// Cases found by mutation testing: the scanner was only reached through the body checks
// (test/api/body*.test.ts), which see its answers as a status and a message.

const ALL: WatchedObject = { keys: 'all' };
const CREATE: WatchedObject = { keys: ['labels'], children: { labels: { keys: 'all' } } };

t.test('foldKey: upper then lower case', async (t) => {
  t.equal(foldKey('Labels'), 'labels');
  t.equal(foldKey('label\u017f'), 'labels', 'LONG S');
  t.equal(foldKey('\u212aind'), 'kind', 'KELVIN SIGN');
  t.equal(foldKey('stra\u00dfe'), 'strasse', 'sharp s');
});

t.test('keys are compared after unescaping, every JSON escape', async (t) => {
  // [escaped key text, the same key written another way]
  const pairs: Array<[string, string]> = [
    ['a\\"b', 'a\\u0022b'],
    ['a\\\\b', 'a\\u005cb'],
    ['a\\/b', 'a/b'],
    ['a\\bb', 'a\\u0008b'],
    ['a\\fb', 'a\\u000cb'],
    ['a\\nb', 'a\\u000ab'],
    ['a\\rb', 'a\\u000db'],
    ['a\\tb', 'a\\u0009b'],
    ['\\u004C', '\\u004c'],
    ['\\u00e9', '\u00e9'],
    ['\\u00E9', '\u00e9'],
    ['x\\u0041y', 'xAy'],
  ];
  for (const [first, second] of pairs) {
    const scan = scanJsonKeys(`{"${first}":1,"${second}":2}`, 0, ALL);
    t.equal(scan.ok, false, `${first} / ${second}`);
    if (!scan.ok) {
      t.equal(scan.kind, 'duplicate', `${first} / ${second}`);
      if (scan.kind === 'duplicate') t.equal(scan.key, JSON.parse(`"${second}"`), `${first} / ${second}: the decoded key`);
    }
  }
  t.same(scanJsonKeys('{"a\\nb":1,"a\\tb":2,"ab":3,"a/b":4}', 0, ALL).ok, true, 'different escapes, different keys');
});

t.test('a key jobgate does not read is not decoded or compared', async (t) => {
  t.same(scanJsonKeys('{"x":1,"x":2,"X":3}', 0, { keys: ['name'] }), { ok: true, spans: new Map([['', { close: 18, members: 3 }]]) });
  t.same(scanJsonKeys('{"a":{"b":1,"b":2}}', 0, { keys: ['a'] }).ok, true, 'an object under a key without children is not watched');
});

t.test('duplicates and variants say which key, of which, and where', async (t) => {
  t.same(scanJsonKeys('{"name":1,"Name":2}', 0, { keys: ['name'] }), { ok: false, kind: 'variant', key: 'Name', of: 'name', where: '' });
  t.same(
    scanJsonKeys('{"NAME":1}', 0, { keys: ['name'] }),
    { ok: false, kind: 'variant', key: 'NAME', of: 'name', where: '' },
    'a variant of a listed name alone',
  );
  t.same(scanJsonKeys('{"name":1,"name":2}', 0, { keys: ['name'] }), { ok: false, kind: 'duplicate', key: 'name', where: '' });
  t.same(scanJsonKeys('{"a":1,"A":2}', 0, ALL), { ok: false, kind: 'variant', key: 'A', of: 'a', where: '' });
  t.same(scanJsonKeys('{"labels":{"team":"a","TEAM":"b"}}', 0, CREATE), { ok: false, kind: 'variant', key: 'TEAM', of: 'team', where: 'labels' });
  const nested: WatchedObject = { keys: ['a'], children: { a: { keys: ['b'], children: { b: { keys: 'all' } } } } };
  t.same(scanJsonKeys('{"a":{"b":{"c":1,"c":2}}}', 0, nested), { ok: false, kind: 'duplicate', key: 'c', where: 'a.b' });
  t.same(scanJsonKeys('{"a":{"x":{"c":1,"c":2}}}', 0, nested).ok, true, 'a member the watched object does not name is not watched');
  t.same(scanJsonKeys('{"a":[{"b":{"c":1,"c":2}}]}', 0, nested).ok, true, 'an array is not the watched object');
});

t.test('a key that only an inherited property names has no children', async (t) => {
  for (const key of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    const scan = scanJsonKeys(`{"${key}":{"a":1,"a":2}}`, 0, { keys: 'all', children: { labels: ALL } });
    t.equal(scan.ok, true, key);
  }
});

t.test('spans: where each watched object closes, and its members', async (t) => {
  const text = '{"image":"x", "labels" : { "team":"a" ,"env":"b"} }';
  t.same(scanJsonKeys(text, 0, CREATE), {
    ok: true,
    spans: new Map([
      ['labels', { close: text.indexOf('}'), members: 2 }],
      ['', { close: text.lastIndexOf('}'), members: 2 }],
    ]),
  });
  t.same(scanJsonKeys('{}', 0, CREATE), { ok: true, spans: new Map([['', { close: 1, members: 0 }]]) });
  t.same(scanJsonKeys('{"labels":{ }}', 0, CREATE), {
    ok: true,
    spans: new Map([
      ['labels', { close: 12, members: 0 }],
      ['', { close: 13, members: 1 }],
    ]),
  });
  t.same(scanJsonKeys('{"labels":[]}', 0, CREATE), { ok: true, spans: new Map([['', { close: 12, members: 1 }]]) }, 'labels that are not an object: no span');
  t.same(scanJsonKeys('[{"a":1}]', 0, CREATE), { ok: true, spans: new Map() }, 'a top level that is not an object: no span');
  t.same(scanJsonKeys('\ufeff{"a":1}', 1, ALL), { ok: true, spans: new Map([['', { close: 7, members: 1 }]]) }, 'from `start`, offsets into the text');
});

t.test('nesting is bounded by MAX_JSON_DEPTH, at the edge', async (t) => {
  t.equal(MAX_JSON_DEPTH, 256);
  for (const [open, empty, close] of [
    ['[', '[]', ']'],
    ['{"a":', '{}', '}'],
  ] as const) {
    const nested = (depth: number): string => open.repeat(depth - 1) + empty + close.repeat(depth - 1);
    t.same(scanJsonKeys(nested(256), 0, ALL).ok, true, `${empty} 256 deep`);
    t.same(scanJsonKeys(nested(257), 0, ALL), { ok: false, kind: 'too-deep' }, `${empty} 257 deep`);
  }
});

t.test('the scanner accepts what JSON.parse accepts, edge by edge', async (t) => {
  const texts = [
    '0',
    '-0',
    '01',
    '-',
    '-a',
    '1.',
    '1.5',
    '.5',
    '1e5',
    '1E5',
    '1e',
    '1e+',
    '1e-2',
    '1E+2',
    '-0.25e-3',
    '2x',
    'true',
    'tru',
    'false',
    'fals',
    'null',
    'nul',
    'nulls',
    't',
    'f',
    'n',
    '"a',
    '"\\x"',
    '"\\u12"',
    '"\\u12g4"',
    '"\\uABCD"',
    '"\\uabcd"',
    '"\\u12@4"',
    '"\\u12`4"',
    '"\\u12G4"',
    '"\\x0041"',
    '"\\U0041"',
    '"a\u0001b"',
    '"a\u001fb"',
    '"a\u0020b"',
    '"\\',
    ' {"a" : [ 1 , 2 ] } ',
    '\t\r\n1\n',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a" 1}',
    '{a:1}',
    '{"a":}',
    '[1,]',
    '[1 2]',
    '[',
    ']',
    '{',
    '}',
    '{"a":1}}',
    '[]]',
    '1 2',
    '',
    ' ',
    '\u00a01',
    '{"a":[{"b":[]},{}]}',
    '[{"a":1,"a":2}]',
  ];
  for (const text of texts) {
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    t.equal(scanJsonKeys(text, 0, { keys: [] }).ok, parses, JSON.stringify(text));
  }
  t.same(scanJsonKeys('{"a":1 x', 0, ALL), { ok: false, kind: 'syntax' });
});

t.test('a malformed value or key is refused where it is: the scan never goes back before `start`', async (t) => {
  // What precedes `start` would read as a separator if the scan went back to it.
  const malformed = ['"\\x"', '"\\u12g4"', '1.', '1e', '1e+', 't', 'tru'];
  for (const prefix of [' ,', ' :']) {
    for (const value of malformed) {
      for (const text of [`${prefix}[${value}]`, `${prefix}{"a":${value}}`, `${prefix}{${value}:1}`]) {
        t.same(scanJsonKeys(text, prefix.length, ALL), { ok: false, kind: 'syntax' }, JSON.stringify(text));
      }
    }
  }
});
