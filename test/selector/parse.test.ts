import t, { type Test } from 'tap';
import { EMPTY_SELECTOR, MAX_SELECTOR_LENGTH, SelectorError, formatSelector, parseSelector, type Requirement } from '../../src/selector/parse.js';
import { labelKeyProblem, labelValueProblem } from '../../src/selector/labels.js';
import * as selectorIndex from '../../src/selector/index.js';

const reqs = (text: string): readonly Requirement[] => parseSelector(text).requirements;

/** Asserts that parsing `text` fails with exactly `message` at `position`. */
function rejects(t: Test, text: string, message: string, position: number): void {
  let error: unknown;
  try {
    parseSelector(text);
  } catch (err) {
    error = err;
  }
  t.type(error, SelectorError, `${JSON.stringify(text)} is rejected`);
  t.match(error, { name: 'SelectorError', message, position }, JSON.stringify(text));
}

t.test('index re-exports the public API', async (t) => {
  t.equal(selectorIndex.parseSelector, parseSelector);
  t.equal(selectorIndex.formatSelector, formatSelector);
  t.equal(selectorIndex.SelectorError, SelectorError);
  t.equal(selectorIndex.EMPTY_SELECTOR, EMPTY_SELECTOR);
  t.type(selectorIndex.matches, 'function');
  t.type(selectorIndex.equalityLabels, 'function');
  t.type(selectorIndex.labelKeyProblem, 'function');
  t.type(selectorIndex.labelValueProblem, 'function');
});

t.test('empty selector', async (t) => {
  for (const text of ['', ' ', ' \t\r\n ']) {
    const s = parseSelector(text);
    t.equal(s, EMPTY_SELECTOR, JSON.stringify(text));
  }
  t.same(EMPTY_SELECTOR, { source: '', requirements: [], empty: true });
  t.ok(Object.isFrozen(EMPTY_SELECTOR));
  t.equal(formatSelector(EMPTY_SELECTOR), '');
});

t.test('every operator', async (t) => {
  t.same(reqs('name=value'), [{ op: 'eq', key: 'name', value: 'value' }]);
  t.same(reqs('name==value'), [{ op: 'eq', key: 'name', value: 'value' }]);
  t.same(reqs('name!=value'), [{ op: 'neq', key: 'name', value: 'value' }]);
  t.same(reqs('env in (prod,staging)'), [{ op: 'in', key: 'env', values: ['prod', 'staging'] }]);
  t.same(reqs('env notin (dev)'), [{ op: 'notin', key: 'env', values: ['dev'] }]);
  t.same(reqs('gpu'), [{ op: 'exists', key: 'gpu' }]);
  t.same(reqs('!gpu'), [{ op: 'notexists', key: 'gpu' }]);
  t.same(reqs('gpus>1'), [{ op: 'gt', key: 'gpus', value: '1' }]);
  t.same(reqs('gpus<8'), [{ op: 'lt', key: 'gpus', value: '8' }]);
});

t.test('selector shape', async (t) => {
  const s = parseSelector('  a=b, !c  ');
  t.equal(s.source, 'a=b, !c');
  t.equal(s.empty, false);
  t.same(s.requirements, [
    { op: 'eq', key: 'a', value: 'b' },
    { op: 'notexists', key: 'c' },
  ]);
});

t.test('comma is AND, all kinds together', async (t) => {
  t.same(reqs('a=b,c!=d,e in (x,y),f notin (z),g,!h'), [
    { op: 'eq', key: 'a', value: 'b' },
    { op: 'neq', key: 'c', value: 'd' },
    { op: 'in', key: 'e', values: ['x', 'y'] },
    { op: 'notin', key: 'f', values: ['z'] },
    { op: 'exists', key: 'g' },
    { op: 'notexists', key: 'h' },
  ]);
  t.same(
    reqs('a=b,a=b'),
    [
      { op: 'eq', key: 'a', value: 'b' },
      { op: 'eq', key: 'a', value: 'b' },
    ],
    'duplicate requirements are kept',
  );
});

t.test('spacing variants', async (t) => {
  const expected = [
    { op: 'eq', key: 'a', value: 'b' },
    { op: 'in', key: 'c', values: ['x', 'y'] },
    { op: 'notexists', key: 'd' },
    { op: 'neq', key: 'e', value: 'f' },
  ];
  for (const text of [
    'a=b,c in (x,y),!d,e!=f',
    ' a = b , c in ( x , y ) , ! d , e != f ',
    'a =b,c in(x,y),!d,e!= f',
    '\ta\t=\tb\n,\nc\r\nin\r\n(x,y),!d,e!=f\n',
    'a==b,c in (x ,y ),!d,e!=f',
  ]) {
    t.same(reqs(text), expected, JSON.stringify(text));
  }
  t.same(reqs('a notin(b)'), [{ op: 'notin', key: 'a', values: ['b'] }]);
  t.same(reqs('a in (in, notin)'), [{ op: 'in', key: 'a', values: ['in', 'notin'] }], 'keywords are values inside lists');
  t.same(reqs('a=in'), [{ op: 'eq', key: 'a', value: 'in' }]);
});

t.test('prefixed keys', async (t) => {
  t.same(reqs('ovh/id=abc'), [{ op: 'eq', key: 'ovh/id', value: 'abc' }]);
  t.same(reqs('app.kubernetes.io/name in (web, api)'), [{ op: 'in', key: 'app.kubernetes.io/name', values: ['web', 'api'] }]);
  t.same(reqs('!example.com/Fast_Lane.v2'), [{ op: 'notexists', key: 'example.com/Fast_Lane.v2' }]);
});

t.test('empty values (Kubernetes behaviour)', async (t) => {
  t.same(reqs('a='), [{ op: 'eq', key: 'a', value: '' }]);
  t.same(reqs('a==,b!='), [
    { op: 'eq', key: 'a', value: '' },
    { op: 'neq', key: 'b', value: '' },
  ]);
  t.same(reqs('a in (b,)'), [{ op: 'in', key: 'a', values: ['b', ''] }]);
  t.same(reqs('a in (,b)'), [{ op: 'in', key: 'a', values: ['', 'b'] }]);
  t.same(reqs('a notin (b,,c)'), [{ op: 'notin', key: 'a', values: ['b', '', 'c'] }]);
  t.same(reqs('a in (,)'), [{ op: 'in', key: 'a', values: [''] }]);
  t.same(reqs('a in ()'), [{ op: 'in', key: 'a', values: [''] }], 'an empty list holds the empty value');
  t.same(reqs('a notin ( )'), [{ op: 'notin', key: 'a', values: [''] }]);
  t.same(reqs('z in (),w'), [
    { op: 'in', key: 'z', values: [''] },
    { op: 'exists', key: 'w' },
  ]);
  t.same(reqs('a in (b, b, c, b)'), [{ op: 'in', key: 'a', values: ['b', 'c'] }], 'repeated values dropped');
});

t.test('syntax errors say what and where', async (t) => {
  rejects(t, 'a in (b', "unexpected end of selector at 7: expected ',' or ')'", 7);
  rejects(t, 'a in (b c)', "unexpected \"c\" at 8: expected ',' or ')'", 8);
  rejects(t, 'a in (=)', "unexpected '=' at 6: expected a value, ',' or ')'", 6);
  rejects(t, 'a in (', "unexpected end of selector at 6: expected a value, ',' or ')'", 6);
  rejects(t, 'a in (b,', "unexpected end of selector at 8: expected a value, ',' or ')'", 8);
  rejects(t, 'a in ((b))', "unexpected '(' at 6: expected a value, ',' or ')'", 6);
  rejects(t, 'a in b', 'unexpected "b" at 5: expected \'(\'', 5);
  rejects(t, 'a notin', "unexpected end of selector at 7: expected '('", 7);
  rejects(t, 'a b', `unexpected "b" at 2: expected '=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector`, 2);
  rejects(t, 'ain (b)', `unexpected '(' at 4: expected '=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector`, 4);
  rejects(t, 'a(b)', `unexpected '(' at 1: expected '=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector`, 1);
  rejects(t, 'a !b', `unexpected '!' at 2: expected '=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector`, 2);
  rejects(t, 'a=b c', 'unexpected "c" at 4: expected \',\' or end of selector', 4);
  rejects(t, '  a=b c', 'unexpected "c" at 6: expected \',\' or end of selector', 6);
  rejects(t, '!a=b', "unexpected '=' at 2: expected ',' or end of selector", 2);
  rejects(t, 'a in (b)c', 'unexpected "c" at 8: expected \',\' or end of selector', 8);
  rejects(t, 'a===b', "unexpected '=' at 3: expected a value", 3);
  rejects(t, 'a=(b)', "unexpected '(' at 2: expected a value", 2);
  rejects(t, 'a=!b', "unexpected '!' at 2: expected a value", 2);
  rejects(t, 'a,', "unexpected end of selector at 2: expected a key or '!'", 2);
  rejects(t, ',a', "unexpected ',' at 0: expected a key or '!'", 0);
  rejects(t, 'a,,b', "unexpected ',' at 2: expected a key or '!'", 2);
  rejects(t, '=a', "unexpected '=' at 0: expected a key or '!'", 0);
  rejects(t, '!', 'unexpected end of selector at 1: expected a key', 1);
  rejects(t, '!!a', "unexpected '!' at 1: expected a key", 1);
  rejects(t, '!=a', "unexpected '!=' at 0: expected a key or '!'", 0);
});

t.test('invalid keys and values are reported at their position', async (t) => {
  rejects(t, 'Foo_=x', 'invalid label key "Foo_" at 0: name part must start and end with an alphanumeric character', 0);
  rejects(
    t,
    'a=b, Ex.com/c',
    'invalid label key "Ex.com/c" at 5: ' +
      "prefix part must be a lowercase DNS subdomain: 'a-z', '0-9', '-' and '.', " +
      'each dot-separated part starting and ending with a letter or digit',
    5,
  );
  rejects(t, '!-a', 'invalid label key "-a" at 1: name part must start and end with an alphanumeric character', 1);
  rejects(t, 'a~1', `invalid label key "a~1" at 0: name part must consist of alphanumeric characters, '-', '_' or '.'`, 0);
  rejects(t, 'a=-x', 'invalid label value "-x" at 2: must start and end with an alphanumeric character', 2);
  rejects(t, 'a in (x, y_)', 'invalid label value "y_" at 9: must start and end with an alphanumeric character', 9);
  const long = 'v'.repeat(64);
  rejects(t, `a!=${long}`, `invalid label value "${long}" at 3: must be no more than 63 characters`, 3);
  t.same(reqs(`${'k'.repeat(63)}=${'v'.repeat(63)}`), [{ op: 'eq', key: 'k'.repeat(63), value: 'v'.repeat(63) }]);
});

t.test('input length is bounded', async (t) => {
  t.equal(MAX_SELECTOR_LENGTH, 4096);
  const fits = `a in (${'b,'.repeat(2044)}b)`;
  t.equal(fits.length, 4096);
  t.equal(parseSelector(fits).requirements.length, 1);
  rejects(t, fits + ' ', 'selector too long at 4096: at most 4096 characters are allowed', 4096);
  rejects(t, ' '.repeat(5000), 'selector too long at 4096: at most 4096 characters are allowed', 4096);
});

t.test('labelKeyProblem: Kubernetes key rules', async (t) => {
  const prefix253 = `${'a'.repeat(63)}.`.repeat(3) + 'a'.repeat(61);
  t.equal(prefix253.length, 253);
  for (const key of [
    'a',
    'A',
    '9',
    'name',
    'My.Name_x-1',
    'a--b',
    'k'.repeat(63),
    'ovh/id',
    'kubernetes.io/hostname',
    'a-b.c--d.e9/x',
    '0/x',
    `${prefix253}/x`,
  ]) {
    t.equal(labelKeyProblem(key), undefined, key);
  }
  const chars = "name part must consist of alphanumeric characters, '-', '_' or '.'";
  const ends = 'name part must start and end with an alphanumeric character';
  const prefix =
    "prefix part must be a lowercase DNS subdomain: 'a-z', '0-9', '-' and '.', " + 'each dot-separated part starting and ending with a letter or digit';
  const cases: Array<[string, string]> = [
    ['', 'name part must not be empty'],
    ['k'.repeat(64), 'name part must be no more than 63 characters'],
    ['-a', ends],
    ['a-', ends],
    ['_a', ends],
    ['a.', ends],
    ['Foo_', ends],
    ['a b', chars],
    ['a:b', chars],
    ['é', chars],
    ['a/', 'name part must not be empty'],
    ['a/-b', ends],
    [`a/${'k'.repeat(64)}`, 'name part must be no more than 63 characters'],
    ['/a', 'prefix part must not be empty'],
    ['a/b/c', "must contain at most one '/'"],
    [`${prefix253}a/x`, 'prefix part must be no more than 253 characters'],
    ['Example.com/x', prefix],
    ['OVH/id', prefix],
    ['ex_ample.com/x', prefix],
    ['-a.com/x', prefix],
    ['a.com-/x', prefix],
    ['a-.com/x', prefix],
    ['a.-com/x', prefix],
    ['a..com/x', prefix],
    ['.a/x', prefix],
    ['a./x', prefix],
    ['.', ends],
  ];
  for (const [key, reason] of cases) t.equal(labelKeyProblem(key), reason, JSON.stringify(key));
});

t.test('labelValueProblem: Kubernetes value rules', async (t) => {
  for (const value of ['', 'a', 'Z', '0', 'v1.2_3-rc', 'v'.repeat(63)]) {
    t.equal(labelValueProblem(value), undefined, JSON.stringify(value));
  }
  const cases: Array<[string, string]> = [
    ['v'.repeat(64), 'must be no more than 63 characters'],
    ['x y', "must consist of alphanumeric characters, '-', '_' or '.'"],
    ['a/b', "must consist of alphanumeric characters, '-', '_' or '.'"],
    ['-a', 'must start and end with an alphanumeric character'],
    ['a_', 'must start and end with an alphanumeric character'],
    ['.', 'must start and end with an alphanumeric character'],
  ];
  for (const [value, reason] of cases) t.equal(labelValueProblem(value), reason, JSON.stringify(value));
});

t.test('formatSelector is canonical and round-trips', async (t) => {
  t.equal(formatSelector(parseSelector(' a == b , c != d , e in ( x , y ) , f notin(z) , g , ! h ')), 'a=b,c!=d,e in (x,y),f notin (z),g,!h');
  for (const text of [
    'name=value',
    'ovh/id=abc,!ovh/gpu',
    'a=,b!=',
    'a in (,b),c notin (b,,c)',
    'a in (,)',
    'a notin ( , )',
    'a in ()',
    'a>1,b<007',
    'a=b,a=b,x.y/z in (1,2,3)',
  ]) {
    const s = parseSelector(text);
    const formatted = formatSelector(s);
    t.same(parseSelector(formatted).requirements, s.requirements, `${text} -> ${formatted}`);
    t.equal(formatSelector(parseSelector(formatted)), formatted, `${formatted} is a fixed point`);
  }
  t.equal(formatSelector(parseSelector('a in (,)')), 'a in ()', 'a lone empty value is written () as Kubernetes does');
  t.equal(formatSelector(parseSelector('a > 1 , b<2')), 'a>1,b<2');
});

t.test('Cases found by mutation testing', async (t) => {
  t.test("a '>' or '<' value that is no integer is reported where the value is, or right after the operator when there is none", async (t) => {
    const why = (operator: string) => `'${operator}' compares integers, so the value must be a whole number (digits, at most 9223372036854775807)`;
    rejects(t, 'x> y', `invalid value "y" at 3: ${why('>')}`, 3);
    rejects(t, 'x<   y1', `invalid value "y1" at 5: ${why('<')}`, 5);
    rejects(t, 'x>  ,y', `invalid value "" at 2: ${why('>')}`, 2);
    rejects(t, 'x<   ', `invalid value "" at 2: ${why('<')}`, 2);
  });
});
