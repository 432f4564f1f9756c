import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { prefersHtml, safeNext, sameOriginRequest, splitDeepLink } from '../../src/session/browser.js';

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
});
