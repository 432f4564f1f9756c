import type { IncomingMessage } from 'node:http';
import t from 'tap';
import {
  absoluteLocation,
  followedFromElsewhere,
  fromOwnOrigin,
  isSafeMethod,
  prefersHtml,
  safeNext,
  sameOriginRequest,
  splitDeepLink,
} from '../../src/session/browser.js';

const req = (headers: Record<string, string>, method = 'GET') => ({ method, headers }) as unknown as IncomingMessage;

t.test('browser navigations prefer HTML; API clients do not', async (t) => {
  t.ok(prefersHtml(req({ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' })));
  t.notOk(prefersHtml(req({ accept: 'application/json' })));
  t.notOk(prefersHtml(req({ accept: '*/*' })));
  t.notOk(prefersHtml(req({})));
  t.notOk(prefersHtml(req({ accept: 'application/json, text/html;q=0.5' })));
  t.ok(prefersHtml(req({ accept: 'text/html, application/json;q=0.9' })));
  t.notOk(prefersHtml(req({ accept: 'text/html' }, 'POST')), 'only GET and HEAD');
});

t.test('next: same-host paths only', async (t) => {
  for (const [next, expected] of [
    ['/lab?x=1', '/lab?x=1'],
    ['/', '/'],
    ['//evil.test', '/'],
    ['/\\evil.test', '/'],
    ['https://evil.test/', '/'],
    ['evil', '/'],
    ['', '/'],
    [null, '/'],
    ['/a b', '/'],
    ['/a\r\nSet-Cookie: x', '/'],
  ] as const) {
    t.equal(safeNext(next), expected, JSON.stringify(next));
  }
});

t.test('deep links keep every other parameter as it was', async (t) => {
  t.same(splitDeepLink('/a?jobgate_token=abc&x=1%202&y'), { token: 'abc', rest: '/a?x=1%202&y' });
  t.same(splitDeepLink('/a?x=1&jobgate_token=a%5Fb'), { token: 'a_b', rest: '/a?x=1' });
  t.same(splitDeepLink('/?jobgate_token='), { token: '', rest: '/' });
  t.same(splitDeepLink('/?jobgate_token=%E0%A4%A'), { token: '', rest: '/' }, 'bad escapes become an empty token');
  t.equal(splitDeepLink('/a?x=1'), undefined);
  t.equal(splitDeepLink('/jobgate_token=1'), undefined);
  t.equal(splitDeepLink('/a?not_jobgate_token=1'), undefined);
});

t.test("a deep link redirects only to a path on the job's own host", async (t) => {
  const hostile = [
    '//evil.example/',
    '//evil.example',
    '/\\evil.example/',
    '\\\\evil.example/',
    '\\/evil.example/',
    '/\t/evil.example/',
    '/\n/evil.example/',
    '/\r\n/evil.example/',
    '\t//evil.example/',
    ' //evil.example/',
    '/ /evil.example/',
    'https://evil.example/',
    'HTTPS://evil.example/',
    'http:evil.example/',
    'https:/\\evil.example/',
    '//user:pass@evil.example/',
    '/@evil.example\u0000',
    'javascript:alert(1)',
    'evil.example/',
    '/\u00a0/evil.example',
    '/\u3000/evil.example',
    '/a\r\nSet-Cookie: jobgate=x',
  ];
  for (const path of hostile) {
    const link = splitDeepLink(`${path}?jobgate_token=x&a=1`);
    t.equal(link?.rest, '/', `${JSON.stringify(path)} goes to the job's root`);
    t.equal(link?.token, 'x');
    t.equal(new URL(link!.rest, 'http://job.example/').host, 'job.example');
  }
  // Percent-encoded slashes, backslashes and controls are not decoded in a Location: they stay in the path.
  for (const path of [
    '/%2f%2fevil.example/',
    '/%2F/evil.example',
    '/%5cevil.example/',
    '/%5C%5Cevil.example',
    '/%09/evil.example',
    '/%0d%0a/x',
    '/@evil.example',
    '/user:pass@evil.example/',
    '/.//evil.example',
    '/a/../..//evil.example',
  ]) {
    const link = splitDeepLink(`${path}?b=2&jobgate_token=x`);
    t.equal(link?.rest, `${path}?b=2`, `${path} is a path on the job's host`);
    t.equal(new URL(link!.rest, 'http://job.example/').host, 'job.example', `${path} resolves on the job's host`);
  }
  t.equal(splitDeepLink(`/${'a'.repeat(5000)}?jobgate_token=x`)?.rest, '/', 'an over-long path');
  t.same(splitDeepLink('/lab/tree?jobgate_token=x&kernel=py'), { token: 'x', rest: '/lab/tree?kernel=py' }, 'an ordinary path is kept');
});

t.test('absolute redirects name the original host and nothing else', async (t) => {
  t.equal(absoluteLocation(false, 'nb1.job.test', '/lab?a=1'), 'http://nb1.job.test/lab?a=1');
  t.equal(absoluteLocation(true, 'NB1.job.test:8443', '/'), 'https://NB1.job.test:8443/');
  t.equal(absoluteLocation(false, '[::1]:8080', '/x'), 'http://[::1]:8080/x');
  t.equal(absoluteLocation(false, '127.0.0.1', '/x'), 'http://127.0.0.1/x');
  t.equal(absoluteLocation(false, 'nb1.job.test', '//evil.example/'), 'http://nb1.job.test/', 'the path goes through the same rule');
  for (const host of [
    'nb1.job.test:@evil.example',
    'evil.example@nb1.job.test',
    'nb1.job.test/@evil.example',
    'evil.example/',
    'evil.example#',
    'evil.example?',
    'evil.example\\',
    'nb1.job.test:80:81',
    'nb1.job.test:',
    'nb1.job.test:123456',
    ':80',
    '',
    '[::1',
    '[]',
    'a b',
    'nb1.job.test\t',
  ]) {
    t.equal(absoluteLocation(false, host, '/'), undefined, JSON.stringify(host));
  }
});

t.test('same-origin check for the login POST', async (t) => {
  const expected = 'https://nb1.job.test';
  t.ok(sameOriginRequest(req({ origin: 'https://nb1.job.test' }, 'POST'), expected));
  t.ok(sameOriginRequest(req({ origin: 'HTTPS://NB1.JOB.TEST' }, 'POST'), expected));
  t.notOk(sameOriginRequest(req({ origin: 'https://nb2.job.test' }, 'POST'), expected));
  t.notOk(sameOriginRequest(req({ origin: 'null' }, 'POST'), expected));
  t.notOk(sameOriginRequest(req({ origin: 'http://nb1.job.test' }, 'POST'), expected), 'another scheme');
  t.ok(sameOriginRequest(req({ 'sec-fetch-site': 'same-origin' }, 'POST'), expected));
  t.notOk(sameOriginRequest(req({ 'sec-fetch-site': 'same-site' }, 'POST'), expected));
  t.ok(sameOriginRequest(req({}, 'POST'), expected), 'neither header: not a browser');
  t.ok(
    sameOriginRequest(req({ origin: 'null', 'sec-fetch-site': 'same-origin' }, 'POST'), expected),
    'Origin: null from a no-referrer page of the job (the page that asks before switching tokens)',
  );
  t.notOk(sameOriginRequest(req({ origin: 'null', 'sec-fetch-site': 'same-site' }, 'POST'), expected));
  t.notOk(sameOriginRequest(req({ origin: 'null', 'sec-fetch-site': 'cross-site' }, 'POST'), expected));
});

t.test('a deep link counts as followed from elsewhere unless the browser says same-origin or none', async (t) => {
  t.notOk(followedFromElsewhere({ 'sec-fetch-site': 'same-origin' }), "the job's own page");
  t.notOk(followedFromElsewhere({ 'sec-fetch-site': 'none' }), 'pasted, typed or a bookmark');
  t.ok(followedFromElsewhere({ 'sec-fetch-site': 'cross-site' }));
  t.ok(followedFromElsewhere({ 'sec-fetch-site': 'same-site' }), "another job's page: all jobs share one site");
  t.ok(followedFromElsewhere({}), 'no header: fails closed');
  t.ok(followedFromElsewhere({ 'sec-fetch-site': 'Same-Origin' }), 'browsers send it lowercase');
});

t.test('own-origin check for unsafe requests on the session cookie: fails closed', async (t) => {
  const expected = 'https://nb1.job.test';
  t.ok(fromOwnOrigin({ origin: 'https://nb1.job.test' }, expected));
  t.notOk(fromOwnOrigin({ origin: 'https://nb2.job.test', 'sec-fetch-site': 'same-origin' }, expected), 'Origin decides when sent');
  t.ok(fromOwnOrigin({ origin: 'null', 'sec-fetch-site': 'same-origin' }, expected), 'Origin: null from a no-referrer page of the job');
  t.notOk(fromOwnOrigin({ origin: 'null' }, expected));
  t.ok(fromOwnOrigin({ 'sec-fetch-site': 'same-origin' }, expected));
  t.notOk(fromOwnOrigin({ 'sec-fetch-site': 'same-site' }, expected));
  t.notOk(fromOwnOrigin({ 'sec-fetch-site': 'none' }, expected));
  t.notOk(fromOwnOrigin({}, expected), 'neither header');
  t.same(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', undefined].map(isSafeMethod), [
    true,
    true,
    true,
    false,
    false,
    false,
    false,
    false,
    false,
  ]);
});
