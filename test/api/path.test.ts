import t from 'tap';
import { apiPathProblem, foldSegment, joinRequestTarget, readsAsLiteral, splitRequestTarget } from '../../src/api/path.js';

t.test('splitRequestTarget splits at the first "?"', async (t) => {
  t.same(splitRequestTarget('/v1/job'), { path: '/v1/job', query: '', hasQuery: false });
  t.same(splitRequestTarget('/v1/job?'), { path: '/v1/job', query: '', hasQuery: true });
  t.same(splitRequestTarget('/v1/job?a=1&b=?c'), { path: '/v1/job', query: 'a=1&b=?c', hasQuery: true });
  t.same(splitRequestTarget('?x'), { path: '', query: 'x', hasQuery: true });
});

t.test('joinRequestTarget adds "?" only for a query', async (t) => {
  t.equal(joinRequestTarget('/v1/job', ''), '/v1/job');
  t.equal(joinRequestTarget('/v1/job', 'a=1'), '/v1/job?a=1');
});

// [path, expected problem (a substring) or undefined]
const table: Array<[string, string | undefined]> = [
  ['/', undefined],
  ['/v1/job', undefined],
  ['/v1/job/nb1/log', undefined],
  ['/v1/job/a.b/x..y/.z/z.', undefined],
  ['/v1/job/%61bc', undefined],
  ['/v1/job/caf%C3%A9', undefined],
  ['/v1/job/a%20b', undefined],
  ['/v1/job/a%3Ab@c', undefined],
  ['', 'does not start with "/"'],
  ['v1/job', 'does not start with "/"'],
  ['*', 'does not start with "/"'],
  ['http://api.example.com/v1/job', 'does not start with "/"'],
  ['/v1/job/x/../y', 'a ".." segment'],
  ['/v1/job/..', 'a ".." segment'],
  ['/../v1/token', 'a ".." segment'],
  ['/v1/./job', 'a "." segment'],
  ['/v1/job/.', 'a "." segment'],
  ['/v1//job', 'empty segment'],
  ['//v1/job', 'empty segment'],
  ['/v1/job/', 'empty segment'],
  ['/v1/job/%2e%2e', 'an encoded "." (%2e)'],
  ['/v1/job/%2E%2E/token', 'an encoded "." (%2E)'],
  ['/v1/job/.%2e', 'an encoded "." (%2e)'],
  ['/v1/job/a%2eb', 'an encoded "." (%2e)'],
  ['/v1/job%2Fnb1', 'an encoded "/" (%2F)'],
  ['/v1/job%2fnb1', 'an encoded "/" (%2f)'],
  ['/v1/job/nb1%5c..%5ctoken', 'an encoded "\\" (%5c)'],
  ['/v1/job/nb1%5C', 'an encoded "\\" (%5C)'],
  ['/v1/job\\..\\token', 'a "\\"'],
  ['/v1/job/nb1#/../token', 'a "#"'],
  ['/v1/job/nb1;x=1/label', '";" (path parameters)'],
  ['/v1/job/..;/token', '";" (path parameters)'],
  ['/v1/job/%zz', 'not followed by two hex digits'],
  ['/v1/job/%2', 'not followed by two hex digits'],
  ['/v1/job/ab%', 'not followed by two hex digits'],
  ['/v1/job/%C3', 'not UTF-8'],
  ['/v1/job/%FF', 'not UTF-8'],
];

for (const [path, expected] of table) {
  t.test(`${JSON.stringify(path)} -> ${expected ?? 'accepted'}`, async (t) => {
    const problem = apiPathProblem(path);
    if (expected === undefined) t.equal(problem, undefined);
    else t.match(problem, expected);
  });
}

t.test('foldSegment: a segment as the most lenient upstream reads it', async (t) => {
  const plain = 'label';
  t.equal(foldSegment(plain), plain);
  t.equal(foldSegment('LaBeL'), 'label');
  t.equal(foldSegment(' \tlabel\r\n'), 'label', 'controls and spaces trimmed, as Java trim() does');
  t.equal(foldSegment('+label+'), 'label', '"+" trimmed, a space to form decoders');
  t.equal(foldSegment('label\u00a0'), 'label', 'NO-BREAK SPACE is a space under NFKC');
  t.equal(foldSegment('\uff4c\uff41\uff42\uff45\uff4c'), 'label', 'fullwidth letters');
  t.equal(foldSegment('to\u212aen'), 'token', 'KELVIN SIGN');
  t.equal(foldSegment('\u017fnap'), 'snap', 'LONG S');
  t.equal(foldSegment('k\u0131ll'), 'kill', 'dotless i');
  t.equal(foldSegment('K\u0130LL'), 'kill', 'dotted capital I');
  t.equal(foldSegment('caf\u00e9'), 'café', 'other letters stay themselves');
  t.equal(foldSegment('a b'), 'a b', 'inner spaces stay');
  t.equal(foldSegment(''), '');
});

t.test('readsAsLiteral: the literal, or the literal and a suffix some upstreams ignore', async (t) => {
  for (const segment of ['label', 'LABEL', 'label.json', 'Label.JSON', 'label;x=1', 'label:clear', 'label.', ' label ']) {
    t.ok(readsAsLiteral(segment, 'label'), JSON.stringify(segment));
  }
  for (const segment of ['labels', 'label-history', 'label_x', 'xlabel', 'lab', '', '.label', 'labe l']) {
    t.notOk(readsAsLiteral(segment, 'label'), JSON.stringify(segment));
  }
  t.ok(readsAsLiteral('V1.2.json', 'v1.2'), 'a literal with a dot');
});

t.test('Cases found by mutation testing: hex digits at the edge of each range', async (t) => {
  for (const path of ['/a%30', '/a%39', '/a%41', '/a%4A', '/a%4a', '/a%4F', '/a%4f', '/a%7E', '/a%7e', '/%30%39%41%46%61%66']) {
    t.equal(apiPathProblem(path), undefined, path);
  }
  // "/" and ":" sit just outside 0-9, "@" "`" "G" "g" just outside A-F and a-f.
  for (const path of ['/a%/0', '/a%:0', '/a%0:', '/a%@0', '/a%`0', '/a%G0', '/a%g0', '/a%0G', '/a%0g']) {
    t.equal(apiPathProblem(path), 'it has a "%" that is not followed by two hex digits', path);
  }
  t.equal(apiPathProblem('/a/b%2F'), 'it contains an encoded "/" (%2F)', 'the encoding quoted as sent');
  t.equal(apiPathProblem('/a/%5cb'), 'it contains an encoded "\\" (%5c)');
  t.equal(apiPathProblem('/a/b.%2E'), 'it contains an encoded "." (%2E)');
  t.equal(apiPathProblem('/a/%E2%82'), 'its percent-encoding is not UTF-8');
  t.equal(apiPathProblem('/a/%E2%82%AC'), undefined, 'a whole UTF-8 sequence');
  t.equal(apiPathProblem('/a/b\\'), 'it contains a "\\"');
  t.equal(apiPathProblem('/a#'), 'it contains a "#"');
  t.equal(apiPathProblem('/a;'), 'it contains a ";" (path parameters)');
  t.equal(apiPathProblem('/a//'), 'it has an empty segment ("//" or a trailing "/")');
  t.equal(apiPathProblem('/.'), 'it has a "." segment');
  t.equal(apiPathProblem('x'), 'it does not start with "/"');
  t.equal(apiPathProblem('/a'), undefined, 'one segment');
});

t.test('Cases found by mutation testing: what foldSegment trims and lowers', async (t) => {
  t.equal(foldSegment('ZA'), 'za', 'the ends of A-Z');
  t.equal(foldSegment('@[`{'), '@[`{', 'the neighbours of A-Z are no letters');
  t.equal(foldSegment('\x7flabel\x7f'), 'label', 'DEL');
  t.equal(foldSegment('!label!'), '!label!', '"!" (0x21) is not trimmed');
  t.equal(foldSegment('\x00label\x1f'), 'label');
  t.equal(foldSegment('\ufefflabel\u2028'), 'label', 'Unicode white space that NFKC keeps, trimmed');
  t.equal(foldSegment('\u00a0LABEL'), 'label', 'non-ASCII: folded and trimmed');
  t.equal(foldSegment('\u0080'), '\u0080', 'a C1 control is not a loose edge');
  t.equal(foldSegment('+'), '');
  t.equal(foldSegment('a+'), 'a');
  t.equal(foldSegment('+a'), 'a');
});

t.test('Cases found by mutation testing: readsAsLiteral suffixes', async (t) => {
  t.notOk(readsAsLiteral('label-json', 'label'));
  t.notOk(readsAsLiteral('label/x', 'label'));
  t.ok(readsAsLiteral('LABEL;', 'label'));
  t.notOk(readsAsLiteral('lab', 'label'), 'shorter');
  t.notOk(readsAsLiteral('labex', 'label'), 'same length, different');
  t.notOk(readsAsLiteral('labex.json', 'label'), 'longer, different start');
});
