/**
 * src/routing/target.ts on its own: absolute-form request targets, the host comparison that
 * routing, the API host and the session cookie share, and the nginx-like check for paths that
 * climb above the root. The proxy tests (test/routing/base-path.test.ts, test/authz/) show the
 * same rules through a running jobgate; these pin each rule down, and were written for what
 * mutation testing found untested (docs/testing.md).
 */
import t from 'tap';
import { originFormOf, pathEscapesRoot, sameRoutedHost, splitAbsoluteForm } from '../../src/routing/target.js';

t.test('Cases found by mutation testing', async (t) => {
  t.test('an absolute-form target splits into its authority and its path and query, as sent', async (t) => {
    t.same(splitAbsoluteForm('http://nb1.job.test/a/b?c=d'), { authority: 'nb1.job.test', path: '/a/b?c=d' });
    t.same(splitAbsoluteForm('HTTPS://NB1.job.test:8443/x'), { authority: 'NB1.job.test:8443', path: '/x' }, 'any case, a port');
    t.same(splitAbsoluteForm('http://nb1.job.test'), { authority: 'nb1.job.test', path: '/' }, 'no path: "/"');
    t.same(splitAbsoluteForm('http://nb1.job.test?a=1'), { authority: 'nb1.job.test', path: '/?a=1' }, 'only a query: "/" before it');
    t.same(splitAbsoluteForm('http://nb1.job.test/?a=/b'), { authority: 'nb1.job.test', path: '/?a=/b' });
    t.same(splitAbsoluteForm('h://x/y'), { authority: 'x', path: '/y' }, 'a one-letter scheme');
    t.same(splitAbsoluteForm('svn+ssh.v-2://x/y'), { authority: 'x', path: '/y' }, 'digits, "+", "." and "-" after the first letter');
  });

  t.test('anything else is not an absolute-form target', async (t) => {
    for (const target of [
      '/a/b',
      '/x?next=http://nb1.job.test/y', // "://" in the query of an origin-form target
      'x?y=http://nb1.job.test/', // a scheme cannot hold "?" or "="
      'nb1.job.test', // no "://" at all (X-Original-URI can hold anything)
      'localhost',
      '://nb1.job.test/',
      '1http://nb1.job.test/',
      '-http://nb1.job.test/',
      'ht_tp://nb1.job.test/',
      'http:///a',
      'http://?a',
      'http://',
    ]) {
      t.equal(splitAbsoluteForm(target), undefined, target);
    }
  });

  t.test('two hosts are the same host whatever their case, port or trailing dot', async (t) => {
    t.ok(sameRoutedHost('nb1.job.test', 'nb1.job.test'));
    t.ok(sameRoutedHost('NB1.Job.Test', 'nb1.job.test'));
    t.ok(sameRoutedHost('nb1.job.test:8080', 'nb1.job.test'));
    t.ok(sameRoutedHost('a:80', 'A'), 'a one-letter host with a port');
    t.ok(sameRoutedHost('nb1.job.test.', 'nb1.job.test'));
    t.ok(sameRoutedHost('nb1.job.test.:8443', 'nb1.job.test'), 'port and trailing dot');
    t.ok(sameRoutedHost('[::1]', '[::1]:8080'), 'an IPv6 literal, with and without a port');
  });

  t.test('any other difference makes another host', async (t) => {
    t.notOk(sameRoutedHost('nb1.job.test', 'nb2.job.test'));
    t.notOk(sameRoutedHost('nb1.job.test', 'nb1.job.tesx'), 'only the last character differs');
    t.notOk(sameRoutedHost('nb1.job.test:8080', 'nb1.job.tes'));
    t.notOk(sameRoutedHost('nb1.job.test..', 'nb1.job.test'), 'one trailing dot is dropped, not two');
    t.notOk(sameRoutedHost('user@nb1.job.test', 'nb1.job.test'), 'userinfo');
    t.notOk(sameRoutedHost('[::1]', '[::2]'), 'IPv6 literals that differ after their last ":"');
    t.notOk(sameRoutedHost('[::1]:80', '[::2]:80'));
    // Node reads header bytes as latin1; routing lowercases, so "ß" is not "ss" (its upper case is "SS").
    t.notOk(sameRoutedHost('stra\u00dfe.job.test', 'strasse.job.test'), 'ß is not ss');
  });

  t.test("originFormOf: the path and query of an absolute-form target for the request's own host", async (t) => {
    t.equal(originFormOf('http://NB1.job.test:80/a?b', 'nb1.job.test'), '/a?b');
    t.equal(originFormOf('http://nb1.job.test', 'nb1.job.test'), '/');
    t.equal(originFormOf('http://other.test/a', 'nb1.job.test'), undefined, 'another host');
    t.equal(originFormOf('http://nb1.job.test/a', undefined), undefined, 'no Host to compare with');
    t.equal(originFormOf('/a', 'nb1.job.test'), undefined, 'origin form already');
  });

  t.test('paths that climb above the root, or hold an encoded NUL, are refused as nginx refuses them', async (t) => {
    for (const target of [
      '/..',
      '/../a',
      '/a/../..',
      '/a/../../b',
      '//..', // empty segments count for nothing: nginx merges slashes
      '/a//..//..',
      '/./..', // "." stays where it is
      '/a/%2e/../..',
      '/%2e%2e',
      '/%2E%2E/a',
      '/.%2e',
      '/a/%2e%2E/%2e%2e',
      '/%00',
      '/a%00b',
      '/a/%00/b',
      '/..?x=/',
      '/..?a=b',
    ]) {
      t.ok(pathEscapesRoot(target), target);
    }
  });

  t.test('paths that stay under the root pass', async (t) => {
    for (const target of [
      '/',
      '/a',
      '/a/..',
      '/a/b/../..',
      '/a/%2e%2e',
      '/%41/..', // an encoded segment that is not a dot is a step down
      '/a/%2e/..',
      '/..a/b',
      '/a../..',
      '/...',
      '/%2e%2e%2f..', // an encoded "/" does not separate segments for nginx
      '/a?x=/../..',
      '/?/../..',
      '/a?x=%00',
      '/a?x=%2e%2e/../..',
    ]) {
      t.notOk(pathEscapesRoot(target), target);
    }
  });
});
