/**
 * Kubernetes' own test suite for label selectors, ported case by case: every case of
 * pkg/labels/selector_test.go in github.com/kubernetes/apimachinery (commit eed236ce, 2026-07)
 * that is about selector text. jobgate must accept what `labels.Parse` accepts, refuse what it
 * refuses, read the same requirements and match the same labels.
 *
 * Where a Go test builds requirements with NewRequirement, the case is written here as the
 * selector text that gives those requirements. Not ported, since jobgate has no such API:
 * SelectorFromSet / Set.AsSelector (TestSetMatches, TestNilMapIsValid, TestSetIsEmpty,
 * TestSetSelectorString), Add, safeSort, Requirement.Equal, Nothing() (TestMatchesNothing's
 * selector texts are ported), and the zero Requirement (TestToString / TestRequirementSelectorMatching).
 *
 * Deliberate differences (docs/redis-schema.md, "Label selectors"):
 * - order: Kubernetes sorts requirements by key and list values; jobgate keeps the text's order
 *   (no match changes). Expected requirements below are compared sorted, as Kubernetes keeps them.
 * - `==` is formatted `=` by formatSelector (the same requirement); Kubernetes writes it back as `==`.
 */
import t from 'tap';
import { equalityLabels, matches } from '../../src/selector/match.js';
import { EMPTY_SELECTOR, formatSelector, parseSelector, SelectorError, tokenizeSelector, type Requirement, type Selector } from '../../src/selector/parse.js';
import type { Labels } from '../../src/selector/labels.js';

const set = (entries: Record<string, string>): Labels => new Map(Object.entries(entries));

/** A requirement as Kubernetes holds it: key, operator (selection.Operator), values sorted. */
type K8sRequirement = readonly [key: string, operator: string, values: readonly string[]];

const K8S_OPERATOR: Record<Requirement['op'], string> = {
  eq: '=',
  neq: '!=',
  in: 'in',
  notin: 'notin',
  exists: 'exists',
  notexists: '!',
  gt: 'gt',
  lt: 'lt',
};

/** jobgate's requirements in Kubernetes' form: sorted by key, values sorted. */
function asKubernetes(selector: Selector): K8sRequirement[] {
  const out = selector.requirements.map((r): K8sRequirement => {
    const values = 'values' in r ? [...r.values].sort() : 'value' in r ? [r.value] : [];
    return [r.key, K8S_OPERATOR[r.op], values];
  });
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function sorted(requirements: K8sRequirement[]): K8sRequirement[] {
  return [...requirements].map(([key, op, values]): K8sRequirement => [key, op, [...values].sort()]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function parseError(text: string): unknown {
  try {
    parseSelector(text);
  } catch (error) {
    return error;
  }
  return undefined;
}

t.test('TestSelectorParse: good strings parse and print back without spaces; bad ones are refused', async (t) => {
  const good = ['x=a,y=b,z=c', '', 'x!=a,y=b', 'x=', 'x= ', 'x=,z= ', 'x= ,z= ', '!x', 'x>1', 'x>1,z<5'];
  const bad = ['x=a||y=b', 'x==a==b', '!x=a', 'x<a'];
  for (const text of good) {
    t.equal(formatSelector(parseSelector(text)), text.replaceAll(' ', ''), JSON.stringify(text));
  }
  for (const text of bad) t.type(parseError(text), SelectorError, `${JSON.stringify(text)} is refused`);
});

t.test('TestDeterministicParse: the order of requirements changes nothing', async (t) => {
  // Kubernetes compares the sorted string forms; jobgate keeps the order, so the requirements and matches are compared.
  const s1 = parseSelector('x=a,a=x');
  const s2 = parseSelector('a=x,x=a');
  t.same(asKubernetes(s1), asKubernetes(s2));
  for (const labels of [set({ x: 'a', a: 'x' }), set({ x: 'a' }), set({})]) t.equal(matches(s1, labels), matches(s2, labels));
});

t.test('TestEverything: the empty selector matches and is empty', async (t) => {
  t.ok(matches(parseSelector(''), set({ x: 'y' })));
  t.ok(parseSelector('').empty);
  t.equal(parseSelector(''), EMPTY_SELECTOR);
});

t.test('TestSelectorMatches', async (t) => {
  const labelset = { foo: 'bar', baz: 'blah' };
  const table: Array<[string, Record<string, string>, boolean]> = [
    ['', { x: 'y' }, true],
    ['x=y', { x: 'y' }, true],
    ['x=y,z=w', { x: 'y', z: 'w' }, true],
    ['x!=y,z!=w', { x: 'z', z: 'a' }, true],
    ['notin=in', { notin: 'in' }, true], // in and notin in exactMatch
    ['x', { x: 'z' }, true],
    ['!x', { y: 'z' }, true],
    ['x>1', { x: '2' }, true],
    ['x<1', { x: '0' }, true],
    ['x=z', {}, false],
    ['x=y', { x: 'z' }, false],
    ['x=y,z=w', { x: 'w', z: 'w' }, false],
    ['x!=y,z!=w', { x: 'z', z: 'w' }, false],
    ['x', { y: 'z' }, false],
    ['!x', { x: 'z' }, false],
    ['x>1', { x: '0' }, false],
    ['x<1', { x: '2' }, false],
    ['foo=bar', labelset, true],
    ['baz=blah', labelset, true],
    ['foo=bar,baz=blah', labelset, true],
    ['foo=blah', labelset, false],
    ['baz=bar', labelset, false],
    ['foo=bar,foobar=bar,baz=blah', labelset, false],
  ];
  for (const [text, labels, expected] of table) {
    t.equal(matches(parseSelector(text), set(labels)), expected, `${JSON.stringify(text)} on ${JSON.stringify(labels)}`);
  }
});

/** Kubernetes' token names for jobgate's tokens (`in` and `notin` are words jobgate reads by position). */
function k8sToken(token: { kind: string; text: string }): string {
  if (token.kind === 'end') return 'EndOfString';
  if (token.kind === 'word') return token.text === 'in' ? 'In' : token.text === 'notin' ? 'NotIn' : 'Identifier';
  const names: Record<string, string> = {
    ',': 'Comma',
    '=': 'Equals',
    '==': 'DoubleEquals',
    '>': 'GreaterThan',
    '<': 'LessThan',
    '!': 'DoesNotExist',
    '!=': 'NotEquals',
    '(': 'OpenPar',
    ')': 'ClosedPar',
  };
  return names[token.text] ?? `unknown ${token.text}`;
}

t.test('TestLexer: one token, with its text', async (t) => {
  const table: Array<[string, string]> = [
    ['', 'EndOfString'],
    [',', 'Comma'],
    ['notin', 'NotIn'],
    ['in', 'In'],
    ['=', 'Equals'],
    ['==', 'DoubleEquals'],
    ['>', 'GreaterThan'],
    ['<', 'LessThan'],
    // the lexer returns the longest valid token found
    ['!', 'DoesNotExist'],
    ['!=', 'NotEquals'],
    ['(', 'OpenPar'],
    [')', 'ClosedPar'],
    // non-"special" characters are part of an identifier
    ['~', 'Identifier'],
    ['||', 'Identifier'],
  ];
  for (const [text, expected] of table) {
    const first = tokenizeSelector(text)[0]!;
    t.equal(k8sToken(first), expected, JSON.stringify(text));
    t.equal(first.text, text, `${JSON.stringify(text)} literal`);
  }
});

t.test('TestLexerSequence and TestParserLookahead: token sequences, ending with EndOfString', async (t) => {
  const table: Array<[string, string[]]> = [
    ['key in ( value )', ['Identifier', 'In', 'OpenPar', 'Identifier', 'ClosedPar']],
    ['key notin ( value )', ['Identifier', 'NotIn', 'OpenPar', 'Identifier', 'ClosedPar']],
    ['key in ( value1, value2 )', ['Identifier', 'In', 'OpenPar', 'Identifier', 'Comma', 'Identifier', 'ClosedPar']],
    ['key', ['Identifier']],
    ['!key', ['DoesNotExist', 'Identifier']],
    ['()', ['OpenPar', 'ClosedPar']],
    ['', []],
    ['x in (),y', ['Identifier', 'In', 'OpenPar', 'ClosedPar', 'Comma', 'Identifier']],
    ['== != (), = notin', ['DoubleEquals', 'NotEquals', 'OpenPar', 'ClosedPar', 'Comma', 'Equals', 'NotIn']],
    ['key>2', ['Identifier', 'GreaterThan', 'Identifier']],
    ['key<1', ['Identifier', 'LessThan', 'Identifier']],
  ];
  for (const [text, expected] of table) {
    t.same(tokenizeSelector(text).map(k8sToken), [...expected, 'EndOfString'], JSON.stringify(text));
  }
});

t.test('TestParseOperator: every binary operator, and what is not one', async (t) => {
  for (const op of ['in', '=', '==', '>', '<', 'notin', '!=']) {
    const text = op === 'in' || op === 'notin' ? `k ${op} (1)` : `k${op}1`;
    t.equal(parseError(text), undefined, `${JSON.stringify(text)} parses`);
  }
  for (const text of ['k ! 1', 'k exists 1', 'k ( 1']) {
    t.type(parseError(text), SelectorError, `${JSON.stringify(text)} is refused`);
  }
});

t.test('TestRequirementConstructor: keys, values and operators, written as selector text', async (t) => {
  const a254 = 'a'.repeat(254);
  // [Go case, selector text, valid]. x1/x2 (in/notin with no values), x5 (= with two values) and
  // x8 (exists with a value) cannot be written as text: the text forms nearest to them are below.
  const table: Array<[string, string, boolean]> = [
    ['x1: in with no values: "()" holds the empty value', 'x1 in ()', true],
    ['x2: notin with no values: "()" holds the empty value', 'x2 notin ()', true],
    ['x3', 'x3 in (foo)', true],
    ['x4', 'x4 notin (foo)', true],
    ['x5: = with two values', 'x5=foo,bar', true], // bar is a second requirement (exists)
    ['x5: = with two values, as one requirement', 'x5=foo bar', false],
    ['x6', 'x6', true],
    ['x7', '!x7', true],
    ['x8: exists with a value', '!x8 foo', false],
    ['x9', 'x9 in (bar)', true],
    ['x10', 'x10 in (bar)', true],
    ['x11', 'x11>1', true],
    ['x12', 'x12<6', true],
    ['x13: > with no value', 'x13>', false],
    ['x14: > with a value that is not an integer', 'x14>bar', false],
    ['x15: < with a value that is not an integer', 'x15<bar', false],
    ['key of 254 characters', a254, false],
    ['x16: value of 254 characters', `x16=${a254}`, false],
    ['x17: value with a space', 'x17=a b', false],
    ['x18: unsupported operator', 'x18 unsupportedOp (a)', false],
  ];
  for (const [name, text, valid] of table) {
    const error = parseError(text);
    if (valid) t.equal(error, undefined, `${name}: ${JSON.stringify(text)} parses`);
    else t.type(error, SelectorError, `${name}: ${JSON.stringify(text)} is refused`);
  }
  t.same(asKubernetes(parseSelector('x1 in ()')), [['x1', 'in', ['']]]);
});

t.test('TestToString: the string form', async (t) => {
  const table: Array<[string, string]> = [
    ['x in (abc,def),y notin (jkl),z', 'x in (abc,def),y notin (jkl),z'],
    ['x notin (abc,def),y!=jkl,!z', 'x notin (abc,def),y!=jkl,!z'],
    ['x notin (abc),y in (jkl,mno),z notin ()', 'x notin (abc),y in (jkl,mno),z notin ()'],
    // Kubernetes keeps "y==jkl"; jobgate reads == and = as one operator and writes "=".
    ['x=abc,y==jkl,z!=a,z', 'x=abc,y=jkl,z!=a,z'],
    ['x>2,y<8,z', 'x>2,y<8,z'],
  ];
  for (const [text, expected] of table) t.equal(formatSelector(parseSelector(text)), expected, JSON.stringify(text));
  // The Go case builds "x in (abc,def)," from a zero Requirement and expects String() to fail; as text it does not parse.
  t.type(parseError('x in (abc,def),'), SelectorError);
});

t.test('TestRequirementSelectorMatching', async (t) => {
  // The first Go case (a zero Requirement, which matches nothing) has no text form.
  const table: Array<[Record<string, string>, string, boolean]> = [
    [{ x: 'foo', y: 'baz' }, 'x in (foo),y notin (alpha)', true],
    [{ x: 'foo', y: 'baz' }, 'x in (foo),y in (alpha)', false],
    [{ y: '' }, 'x notin (),y', true],
    [{ y: '' }, '!x,y', true],
    [{ y: '' }, 'x notin (),!y', false],
    [{ y: 'baz' }, 'x in ()', false],
    [{ z: '2' }, 'z>1', true],
    [{ z: 'v2' }, 'z>1', false],
  ];
  for (const [labels, text, expected] of table) {
    t.equal(matches(parseSelector(text), set(labels)), expected, `${JSON.stringify(text)} on ${JSON.stringify(labels)}`);
  }
});

t.test('TestSetSelectorParser: requirements read, and texts refused', async (t) => {
  // [text, requirements as Kubernetes holds them, or undefined when the text is refused]
  const table: Array<[string, K8sRequirement[] | undefined]> = [
    ['', []],
    ['\rx', [['x', 'exists', []]]],
    ['this-is-a-dns.domain.com/key-with-dash', [['this-is-a-dns.domain.com/key-with-dash', 'exists', []]]],
    ['this-is-another-dns.domain.com/key-with-dash in (so,what)', [['this-is-another-dns.domain.com/key-with-dash', 'in', ['so', 'what']]]],
    ['0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)', [['0.1.2.domain/99', 'notin', ['10.10.100.1', 'tick.tack.clock']]]],
    ['foo  in\t (abc)', [['foo', 'in', ['abc']]]],
    ['x notin\n (abc)', [['x', 'notin', ['abc']]]],
    ['x  notin\t\t\t(abc,def)', [['x', 'notin', ['abc', 'def']]]],
    ['x in (abc,def)', [['x', 'in', ['abc', 'def']]]],
    ['x in (abc,)', [['x', 'in', ['abc', '']]]],
    ['x in (abc,abc)', [['x', 'in', ['abc']]]],
    ['x in ()', [['x', 'in', ['']]]],
    ['x in (a,,)', [['x', 'in', ['a', '']]]],
    ['x in (a,,,)', [['x', 'in', ['a', '']]]],
    ['x in (a,,,,,,)', [['x', 'in', ['a', '']]]],
    ['x in (a,,a,,a,,a,,)', [['x', 'in', ['a', '']]]],
    [
      'x notin (abc,,def),bar,z in (),w',
      [
        ['bar', 'exists', []],
        ['w', 'exists', []],
        ['x', 'notin', ['abc', '', 'def']],
        ['z', 'in', ['']],
      ],
    ],
    [
      'x,y in (a)',
      [
        ['y', 'in', ['a']],
        ['x', 'exists', []],
      ],
    ],
    ['x=a', [['x', '=', ['a']]]],
    ['x>1', [['x', 'gt', ['1']]]],
    ['x<7', [['x', 'lt', ['7']]]],
    [
      'x=a,y!=b',
      [
        ['x', '=', ['a']],
        ['y', '!=', ['b']],
      ],
    ],
    [
      'x=a,y!=b,z in (h,i,j)',
      [
        ['x', '=', ['a']],
        ['y', '!=', ['b']],
        ['z', 'in', ['h', 'i', 'j']],
      ],
    ],
    ['x=a||y=b', undefined],
    ['x,,y', undefined],
    [',x,y', undefined],
    ['x nott in (y)', undefined],
    ['x notin ( )', [['x', 'notin', ['']]]],
    ['x notin (, a)', [['x', 'notin', ['', 'a']]]],
    ['a in (xyz),', undefined],
    ['a in (xyz)b notin ()', undefined],
    ['a ', [['a', 'exists', []]]],
    ['a in (x,y,notin, z,in)', [['a', 'in', ['in', 'notin', 'x', 'y', 'z']]]], // operator 'in' inside list of identifiers
    ['a in (xyz abc)', undefined], // no comma
    ['a notin(', undefined], // bad formed
    ['a (', undefined], // cpar
    ['(', undefined], // opar
  ];
  for (const [text, expected] of table) {
    if (expected === undefined) {
      t.type(parseError(text), SelectorError, `${JSON.stringify(text)} is refused`);
      continue;
    }
    const selector = parseSelector(text);
    t.same(asKubernetes(selector), sorted(expected), JSON.stringify(text));
    t.same(asKubernetes(parseSelector(formatSelector(selector))), sorted(expected), `${JSON.stringify(text)} after a round trip`);
  }
});

t.test('TestRequiresExactMatch: the value a selector pins a key to (equalityLabels)', async (t) => {
  // [selector, key, value pinned, or undefined]
  const table: Array<[string, string, string | undefined]> = [
    ['key in (value)', 'key', 'value'],
    ['key in (value,value2)', 'key', undefined],
    ['key in (value,value1),key2 in (value2)', 'key2', 'value2'],
    ['key=value', 'key', 'value'],
    ['key==value', 'key', 'value'],
    ['key!=value', 'key', undefined],
    ['key in (value),key2 in (value2)', 'key', 'value'],
  ];
  for (const [text, key, expected] of table) t.equal(equalityLabels(parseSelector(text)).get(key), expected, `${text}: ${key}`);
});

t.test('TestValidatedSelectorFromSet and TestMatchesNothing: selector texts', async (t) => {
  t.same(asKubernetes(parseSelector('key=val')), [['key', '=', ['val']]]);
  const long = 'axahm2EJ8Phiephe2eixohbee9eGeiyees1thuozi1xoh0GiuH3diewi8iem7Nui';
  t.equal(long.length, 64);
  t.type(parseError(`Key=${long}`), SelectorError, 'a value of 64 characters is refused');
  for (const text of ['a', '!a', 'a=b', 'a!=b', 'a in (b)', 'a notin (b)', 'a,!a', 'a=b,a!=b', 'a in (b),a notin (b)']) {
    const selector = parseSelector(text);
    t.notOk(selector.empty, `${text} is not the empty selector`);
  }
});

t.test('deliberate difference: a NUL is part of a word (Kubernetes takes it for the end of the text)', async (t) => {
  for (const text of ['x\0', 'x\0,y', 'x=a\0b', 'x in (a\0)']) t.type(parseError(text), SelectorError, JSON.stringify(text));
});

t.test('> and < compare 64-bit integers as Go strconv.ParseInt reads them', async (t) => {
  const table: Array<[string, Record<string, string>, boolean]> = [
    ['x>1', { x: '10' }, true],
    ['x>9', { x: '10' }, true],
    ['x<10', { x: '9' }, true],
    ['x>007', { x: '8' }, true],
    ['x>007', { x: '7' }, false],
    ['x<1', { x: '-5' }, true],
    ['x<1', { x: '+0' }, true],
    ['x>0', { x: '-0' }, false],
    ['x<0', { x: '-0' }, false],
    ['x<0', { x: '-9223372036854775808' }, true],
    ['x<0', { x: '-9223372036854775809' }, false], // out of range: not an integer for ParseInt
    ['x>9223372036854775806', { x: '9223372036854775807' }, true],
    ['x>1', { x: '9223372036854775808' }, false], // out of range
    ['x>1', { x: '00000000000000000000000000009' }, true],
    ['x>1', { x: '' }, false],
    ['x<1', { x: '' }, false],
    ['x<1', { x: '-' }, false],
    ['x>1', { x: '1_000' }, false],
    ['x>1', { x: '0x10' }, false],
    ['x>1', { x: ' 5' }, false],
    ['x<1', { y: '0' }, false],
    ['x>9223372036854775807', { x: '9223372036854775807' }, false],
  ];
  for (const [text, labels, expected] of table) {
    t.equal(matches(parseSelector(text), set(labels)), expected, `${text} on ${JSON.stringify(labels)}`);
  }
  t.equal(parseError('x>9223372036854775807'), undefined);
  t.match(parseError('x>9223372036854775808'), {
    name: 'SelectorError',
    message: `invalid value "9223372036854775808" at 2: '>' compares integers, so the value must be a whole number (digits, at most 9223372036854775807)`,
    position: 2,
  });
  t.match(parseError('x<'), { message: `invalid value "" at 2: '<' compares integers`, position: 2 });
  t.match(parseError('x >, y'), { message: `invalid value "" at 3: '>' compares integers`, position: 3 });
  t.match(parseError('x>-1'), { message: 'invalid label value "-1" at 2: must start and end with an alphanumeric character' });
  t.type(parseError('x>=1'), SelectorError);
  t.type(parseError('x=>1'), SelectorError);
  t.type(parseError('!x>1'), SelectorError);
});
