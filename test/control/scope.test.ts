import fc from 'fast-check';
import t from 'tap';
import { jobWithinScope, narrowedSelector, sameRequirement, tokenWithinScope, upstreamService } from '../../src/control/scope.js';
import { matches, parseSelector } from '../../src/selector/index.js';
import { check } from '../helpers/property.js';
import { modelLabels, spelledSelector } from '../selector/model.js';

// What a scoped operator token may see and change: the rules as a table, then as properties
// (never wider than its scope, whatever it asks for).

const labels = (record: Record<string, string>) => new Map(Object.entries(record));

t.test('a token is within a scope when it carries every requirement of the scope', async (t) => {
  const rows: Array<[scope: string, token: string, within: boolean, why: string]> = [
    ['', '', true, 'the empty scope holds every token'],
    ['', 'team=b', true, 'the empty scope holds every token'],
    ['team=a', 'team=a', true, 'the same selector'],
    ['team=a', 'team==a', true, '== is ='],
    ['team=a', 'team=a,env=dev', true, 'narrower: one more requirement'],
    ['team=a', 'env=dev,team=a', true, 'order does not matter'],
    ['team=a', '', false, 'an unscoped token is wider'],
    ['team=a', 'team=b', false, 'another value'],
    ['team=a', 'Team=a', false, 'a renamed key (label keys are case-sensitive)'],
    ['team=a', 'team in (a)', false, 'the same jobs, but not the same requirement: refused, never guessed'],
    ['team=a', 'team in (a,b)', false, 'an in set is wider'],
    ['team in (a,b)', 'team in (b,a)', true, 'in sets compare as sets'],
    ['team in (a,b)', 'team in (a)', false, 'a narrower in set is not the same requirement'],
    ['team in (a,b)', 'team in (a,b,c)', false, 'a wider in set'],
    ['team notin (x)', 'team notin (x)', true, 'notin'],
    ['team notin (x)', 'team notin (x,y)', false, 'notin sets compare as sets too'],
    ['team=a', 'team!=a', false, 'the opposite operator'],
    ['!secret', '!secret,team=a', true, '!k carried'],
    ['!secret', 'team=a', false, '!k dropped: the token would reach jobs with the label'],
    ['secret', 'secret', true, 'k (exists)'],
    ['!secret', 'secret', false, 'exists is not notexists'],
    ['jobgate/id=nb', 'jobgate/id=nb', true, 'a one-job scope'],
    ['jobgate/id=nb', 'jobgate/id=nb2', false, 'another job'],
    ['n>1', 'n>1', true, 'gt'],
    ['n>1', 'n>2', false, 'another bound is another requirement'],
    ['team=a,env=dev', 'team=a', false, 'every requirement of the scope, not some'],
  ];
  for (const [scope, token, within, why] of rows) {
    t.equal(tokenWithinScope(parseSelector(scope), parseSelector(token)), within, `scope "${scope}", token "${token}": ${why}`);
  }
});

t.test('a token created within a scope gets the scope ANDed to what it asked for', async (t) => {
  const rows: Array<[scope: string, requested: string, stored: string]> = [
    ['', '', ''],
    ['', 'team=b', 'team=b'],
    ['team=a', '', 'team=a'],
    ['team=a', 'env=dev', 'team=a,env=dev'],
    ['team=a', 'team=a,env=dev', 'team=a,env=dev'],
    ['team=a', 'team=b', 'team=a,team=b'],
    ['team in (a,b)', 'team in (b,a)', 'team in (b,a)'],
    ['team in (a,b)', 'team=a', 'team in (a,b),team=a'],
    ['!secret', 'secret', '!secret,secret'],
    ['jobgate/id=nb', 'jobgate/id=other', 'jobgate/id=nb,jobgate/id=other'],
  ];
  for (const [scope, requested, stored] of rows) {
    t.equal(narrowedSelector(parseSelector(scope), parseSelector(requested)), stored, `scope "${scope}", asked "${requested}"`);
  }
});

t.test('a job is within a scope when the scope matches its labels', async (t) => {
  const scope = parseSelector('team=a,!secret');
  t.ok(jobWithinScope(scope, labels({ team: 'a', 'jobgate/id': 'nb' })));
  t.notOk(jobWithinScope(scope, labels({ team: 'a', secret: '', 'jobgate/id': 'nb' })), '!secret: a job with the label is outside');
  t.notOk(jobWithinScope(scope, labels({ team: 'b' })));
  t.ok(jobWithinScope(parseSelector(''), labels({})), 'the empty scope holds every job');
});

t.test('sameRequirement: the same requirement however it is spelled, and nothing else', async (t) => {
  const one = (text: string) => parseSelector(text).requirements[0]!;
  t.ok(sameRequirement(one('a in (x, y)'), one('a in (y,x)')));
  t.ok(sameRequirement(one('a in (x,x,y)'), one('a in (y,x)')), 'repeated values count once');
  t.notOk(sameRequirement(one('a in (x,y)'), one('a notin (x,y)')));
  t.notOk(sameRequirement(one('a'), one('b')));
  t.notOk(sameRequirement(one('a=1'), one('a>1')));
});

t.test('never wider than the scope (properties)', async (t) => {
  check(
    fc.property(spelledSelector, spelledSelector, fc.array(modelLabels, { minLength: 1, maxLength: 8 }), (scopeText, requestedText, labelSets) => {
      const scope = parseSelector(scopeText.text);
      const stored = parseSelector(narrowedSelector(scope, parseSelector(requestedText.text)));
      if (!tokenWithinScope(scope, stored)) return false;
      // Every job the created token matches, the scope matches too.
      return labelSets.every((set) => !matches(stored, labels(set)) || matches(scope, labels(set)));
    }),
  );
  t.pass('a created token is within its creator scope and matches no job outside it');
  check(
    fc.property(spelledSelector, spelledSelector, fc.array(modelLabels, { minLength: 1, maxLength: 8 }), (scopeText, tokenText, labelSets) => {
      const scope = parseSelector(scopeText.text);
      const token = parseSelector(tokenText.text);
      if (!tokenWithinScope(scope, token)) return true;
      return labelSets.every((set) => !matches(token, labels(set)) || matches(scope, labels(set)));
    }),
  );
  t.pass('a token within a scope matches no job outside it');
});

t.test('upstreams compare by the service they reach, whatever the spelling of its host', async (t) => {
  const rows: Array<[a: string, b: string, same: boolean, why: string]> = [
    ['http://svc:8080/', 'http://svc:8080/other/path', true, 'the path does not count'],
    ['http://svc:8080/', 'http://svc.:8080/', true, 'a trailing dot is the same name'],
    ['http://svc:8080/', 'http://svc..:8080/', true, 'dots, however many'],
    ['http://svc:8080/', 'https://svc:8080/', true, 'the scheme does not count: one port, one service'],
    ['http://svc/', 'http://svc:80/', true, "http's default port"],
    ['https://svc/', 'https://svc:443/', true, "https's default port"],
    ['http://svc/', 'https://svc/', false, 'ports 80 and 443'],
    ['http://svc:8080/', 'http://svc:8081/', false, 'another port'],
    ['http://svc:8080/', 'http://svc.ns:8080/', false, 'names that only DNS makes equal stay apart'],
    ['http://10.0.0.1:80/', 'http://[::ffff:10.0.0.1]:80/', true, 'an IPv4-mapped IPv6 address'],
    ['http://10.0.0.1:80/', 'http://[::ffff:10.0.0.2]:80/', false, 'another IPv4-mapped address'],
    ['http://10.0.0.1:80/', 'http://[::10.0.0.1]:80/', false, 'an IPv4-compatible address is not mapped'],
    ['http://127.0.0.1:9000/', 'http://localhost:9000/', true, 'localhost'],
    ['http://127.0.0.1:9000/', 'http://a.localhost:9000/', true, 'a name under localhost'],
    ['http://127.0.0.1:9000/', 'http://127.9.9.9:9000/', true, '127.0.0.0/8'],
    ['http://127.0.0.1:9000/', 'http://[::1]:9000/', true, 'the IPv6 loopback address'],
    ['http://127.0.0.1:9000/', 'http://0.0.0.0:9000/', true, 'the unspecified address reaches this machine'],
    ['http://127.0.0.1:9000/', 'http://[::]:9000/', true, 'the IPv6 unspecified address too'],
    ['http://127.0.0.1:9000/', 'http://[::ffff:127.0.0.1]:9000/', true, 'a mapped loopback address'],
    ['http://127.0.0.1:9000/', 'http://128.0.0.1:9000/', false, 'outside 127.0.0.0/8'],
    ['http://127.0.0.1:9000/', 'http://notlocalhost:9000/', false, 'a name ending in localhost without a dot'],
  ];
  for (const [a, b, same, why] of rows) t.equal(upstreamService(new URL(a)) === upstreamService(new URL(b)), same, `${a} ${same ? '=' : '≠'} ${b}: ${why}`);
});
