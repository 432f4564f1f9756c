import t from 'tap';
import { SignJWT } from 'jose';
import { cookiesForUpstream, readCookie, SessionCookies, upstreamSetCookie } from '../../src/session/cookie.js';
import { sessionKeys } from '../../src/session/keys.js';

const SECRET_A = 'first-secret-that-is-long-enough-0123456789';
const SECRET_B = 'second-secret-that-is-long-enough-987654321';

/** A session scope: host `host`, the job's default upstream (job `job` unless given). */
const at = (host: string, jobId = 'job', port?: number) => ({ host, jobId, port });

/** The job and port claims of a cookie for at('h'). */
const SCOPE_CLAIMS = { job: 'job', port: 0 };

const valueOf = (setCookie: string) => setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));

t.test('a cookie names the token and version, for one host, and verifies', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 3600);
  const set = await cookies.issue({ tokenId: 'tok', version: 3 }, at('nb1.job.test'), false);
  t.match(set, /^jobgate=[\w-]+\.[\w-]+\.[\w-]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
  t.same(await cookies.verify(valueOf(set), at('nb1.job.test')), { tokenId: 'tok', version: 3 });
  t.equal(await cookies.verify(valueOf(set), at('nb2.job.test')), undefined, 'another host');
  t.equal(await cookies.verify(`${valueOf(set)}x`, at('nb1.job.test')), undefined, 'tampered');
  t.equal(await cookies.verify('garbage', at('nb1.job.test')), undefined);
  t.equal(await cookies.verify('a'.repeat(2000), at('nb1.job.test')), undefined, 'over-long');
});

t.test('a cookie holds for the job and port it was issued for, not only for the host name', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 3600);
  const portCookie = valueOf(await cookies.issue({ tokenId: 'tok', version: 1 }, at('nb-8888.job.test', 'nb', 8888), false));
  t.same(await cookies.verify(portCookie, at('nb-8888.job.test', 'nb', 8888)), { tokenId: 'tok', version: 1 }, 'job nb, port 8888');
  t.equal(await cookies.verify(portCookie, at('nb-8888.job.test', 'nb-8888')), undefined, 'the same host name, now job nb-8888');
  t.equal(await cookies.verify(portCookie, at('nb-8888.job.test', 'nb', 8889)), undefined, 'another port');
  t.equal(await cookies.verify(portCookie, at('nb-8888.job.test', 'nb')), undefined, "the job's default upstream");
  const defaultCookie = valueOf(await cookies.issue({ tokenId: 'tok', version: 1 }, at('nb.job.test', 'nb'), false));
  t.ok(await cookies.verify(defaultCookie, at('nb.job.test', 'nb')));
  t.equal(await cookies.verify(defaultCookie, at('nb.job.test', 'nb', 80)), undefined, 'the default upstream is not any numbered port');
});

t.test('a cookie from before the job and port claims is refused (the user logs in again)', async (t) => {
  const keys = sessionKeys([SECRET_A]);
  const cookies = new SessionCookies(keys, 3600);
  const old = await new SignJWT({ ver: 1 })
    .setProtectedHeader({ alg: 'HS256', kid: keys.signing.kid })
    .setSubject('tok')
    .setAudience('h')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(keys.signing.key);
  t.equal(await cookies.verify(old, at('h')), undefined);
  const stringPort = await new SignJWT({ ver: 1, job: 'job', port: '0' })
    .setProtectedHeader({ alg: 'HS256', kid: keys.signing.kid })
    .setSubject('tok')
    .setAudience('h')
    .setExpirationTime('1h')
    .sign(keys.signing.key);
  t.equal(await cookies.verify(stringPort, at('h')), undefined, 'a port claim that is not a number');
});

t.test('rotation: the first secret signs, every secret verifies', async (t) => {
  const old = new SessionCookies(sessionKeys([SECRET_A]), 3600);
  const rotated = new SessionCookies(sessionKeys([SECRET_B, SECRET_A]), 3600);
  const retired = new SessionCookies(sessionKeys([SECRET_B]), 3600);
  const fromOld = valueOf(await old.issue({ tokenId: 'tok', version: 1 }, at('h'), false));
  t.ok(await rotated.verify(fromOld, at('h')), 'a cookie signed with the old secret still verifies during rotation');
  t.equal(await retired.verify(fromOld, at('h')), undefined, 'not once the old secret is removed');
  const ephemeral = new SessionCookies(sessionKeys([]), 3600);
  t.ok(sessionKeys([]).ephemeral);
  t.equal(await ephemeral.verify(fromOld, at('h')), undefined);
});

t.test('expired, unsigned and wrongly shaped cookies are refused', async (t) => {
  const keys = sessionKeys([SECRET_A]);
  const cookies = new SessionCookies(keys, 3600);
  const sign = (claims: Record<string, unknown>, exp: number | string = '1h', alg = 'HS256') =>
    new SignJWT(claims).setProtectedHeader({ alg, kid: keys.signing.kid }).setSubject('tok').setAudience('h').setExpirationTime(exp).sign(keys.signing.key);
  t.equal(await cookies.verify(await sign({ ver: 1, ...SCOPE_CLAIMS }, Math.floor(Date.now() / 1000) - 10), at('h')), undefined, 'expired');
  t.equal(await cookies.verify(await sign({ ver: 'one', ...SCOPE_CLAIMS }), at('h')), undefined, 'version not a number');
  t.equal(await cookies.verify(await sign({ ver: 1, ...SCOPE_CLAIMS }, '1h', 'HS512'), at('h')), undefined, 'another algorithm');
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"tok","ver":1,"aud":"h"}').toString('base64url')}.`;
  t.equal(await cookies.verify(unsigned, at('h')), undefined, 'alg none');
  t.same(await cookies.verify(await sign({ ver: 1, ...SCOPE_CLAIMS }), at('h')), { tokenId: 'tok', version: 1 });
});

t.test('over HTTPS: __Host- name and Secure; clearing covers both names', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 60);
  t.match(await cookies.issue({ tokenId: 'tok', version: 1 }, at('h'), true), /^__Host-jobgate=.*; Secure$/);
  t.same(cookies.clear(false), ['jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax']);
  t.equal(cookies.clear(true).length, 2);
});

t.test('reading and stripping cookies', async (t) => {
  t.equal(readCookie('a=1; jobgate=xyz; b=2', 'jobgate'), 'xyz');
  t.equal(readCookie('notjobgate=1; jobgate=2', 'jobgate'), '2');
  t.equal(readCookie('__Host-jobgate=s', '__Host-jobgate'), 's');
  t.equal(readCookie('a=1', 'jobgate'), undefined);
  t.equal(readCookie(undefined, 'jobgate'), undefined);
  t.equal(cookiesForUpstream('a=1; jobgate=xyz; __Host-jobgate=s; b=2'), 'a=1; b=2');
  t.equal(cookiesForUpstream('jobgate=xyz'), undefined);
  t.equal(cookiesForUpstream('notebook=1; _xsrf=2'), 'notebook=1; _xsrf=2');
  t.equal(cookiesForUpstream('myjobgate=1'), 'myjobgate=1', "a job's cookie that merely ends in jobgate is kept");
  const token = `jgt_${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}_${'a'.repeat(64)}_${'b'.repeat(8)}`;
  t.equal(cookiesForUpstream(`a=1; saved=${token}; b=2`), 'a=1; b=2', 'a cookie holding a token value is removed');
  t.equal(cookiesForUpstream(`saved=${token.slice(0, 60)}`), undefined, 'also cut short');
  t.equal(cookiesForUpstream('a=jgt_; b=jgt_x'), 'a=jgt_; b=jgt_x', 'the prefix alone is not a token');
});

t.test("an upstream's Set-Cookie: jobgate's name is dropped, Domain removed unless kept", async (t) => {
  for (const tossed of [
    'jobgate=forged; Path=/',
    'JOBGATE=forged',
    'JobGate=forged; Domain=job.test',
    '__Host-jobgate=forged; Path=/; Secure',
    '__HOST-jobgate=forged; Path=/; Secure',
    '__Secure-jobgate=forged; Secure',
    '__secure-JOBGATE=forged',
    '__Host-Http-jobgate=forged',
    '__Http-jobgate=forged',
    ' jobgate =forged',
    '\tjobgate\t=forged',
    '=jobgate=forged; Domain=job.test',
    '=__Host-jobgate=forged',
    '= jobgate=forged',
    'jobgate',
    '=jobgate',
    'jobgate=',
  ]) {
    t.equal(upstreamSetCookie(tossed, false), undefined, `${JSON.stringify(tossed)} is dropped`);
    t.equal(upstreamSetCookie(tossed, true), undefined, `${JSON.stringify(tossed)} is dropped with Domain kept too`);
  }
  for (const [sent, expected] of [
    ['a=1; Path=/; Domain=job.test; HttpOnly', 'a=1; Path=/; HttpOnly'],
    ['a=1; domain = .job.test', 'a=1'],
    ['a=1;Domain=job.test;Domain=nb1.job.test;Secure', 'a=1;Secure'],
    ['a=1; Path=/; DOMAIN=job.test', 'a=1; Path=/'],
    ['a=1; Domain', 'a=1'],
    ['a=1; Domain=', 'a=1'],
    ['a=1', 'a=1'],
    ['a=1; Path=/domain=x; Domainx=1; SameSite=Lax', 'a=1; Path=/domain=x; Domainx=1; SameSite=Lax'],
    ['myjobgate=1; Path=/', 'myjobgate=1; Path=/'],
    ['jobgate_pref=dark', 'jobgate_pref=dark'],
    ['x=jobgate; Path=/', 'x=jobgate; Path=/'],
  ] as const) {
    t.equal(upstreamSetCookie(sent, false), expected, JSON.stringify(sent));
    t.equal(upstreamSetCookie(sent, true), sent, `${JSON.stringify(sent)} as sent with keep`);
  }
});

// Cases found by mutation testing (docs/testing.md): each fails with one of the mutants that the
// tests above let through.
t.test('the job claim alone refuses a cookie: same host name and port, another job', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 3600);
  const value = valueOf(await cookies.issue({ tokenId: 'tok', version: 1 }, at('nb.job.test', 'nb'), false));
  t.equal(await cookies.verify(value, at('nb.job.test', 'other')), undefined, 'the host now routes to job "other"');
  t.ok(await cookies.verify(value, at('nb.job.test', 'nb')));
});

t.test('the 1024-character bound: a valid cookie of exactly 1024 characters passes, one longer does not', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 3600);
  // A cookie value of `length` characters (or more): the token id and the version's digits are the
  // free-length claims (base64url never ends a segment on some lengths, so the two together land
  // on 1024; 1025 is one such length, hence "or more" for the longer one).
  const sized = async (length: number, exactly = true) => {
    for (let idLength = 1; idLength < 1000; idLength++) {
      for (const version of [1, 10, 100]) {
        const value = valueOf(await cookies.issue({ tokenId: 'x'.repeat(idLength), version }, at('h'), false));
        if (exactly ? value.length === length : value.length >= length) return value;
      }
    }
    throw new Error(`no cookie of ${length} characters`);
  };
  const exact = await sized(1024);
  const longer = await sized(1025, false);
  t.ok(await cookies.verify(exact, at('h')), 'at the bound: verified');
  t.equal(await cookies.verify(longer, at('h')), undefined, 'over the bound: refused before it is parsed');
});

t.test('clearing over HTTPS names both cookies, each Secure', async (t) => {
  const cookies = new SessionCookies(sessionKeys([SECRET_A]), 60);
  t.same(cookies.clear(true), [
    'jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
    '__Host-jobgate=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
  ]);
});

t.test('reading and stripping: names must match exactly, and what needs no stripping is passed as sent', async (t) => {
  t.equal(readCookie('jobgatex=1', 'jobgate'), undefined, 'a longer name that starts with it');
  t.equal(readCookie('a==1', 'b'), undefined, "another name whose value starts with '='");
  t.equal(readCookie('jobgate=xyz ; a=1', 'jobgate'), 'xyz', 'blanks before the separator are not part of the value');
  t.equal(cookiesForUpstream('a=1;b=2'), 'a=1;b=2', 'no jobgate cookie: the header as sent, spacing included');
  t.equal(cookiesForUpstream('jobgate=x;; a=1; ;'), 'a=1', 'empty parts go with the session cookie');
});

t.test("an upstream's Set-Cookie: the name rules for prefixes, a name without '=', and a tab before Domain", async (t) => {
  t.equal(upstreamSetCookie('jobgate; Path=/', false), undefined, "'=' only in an attribute: the cookie is nameless, its value jobgate");
  t.equal(upstreamSetCookie('x-jobgate=1; Path=/', false), 'x-jobgate=1; Path=/', "a '-jobgate' name without the '__' prefix is the job's");
  t.equal(upstreamSetCookie('__Host-other=1; Path=/', false), '__Host-other=1; Path=/', 'a prefixed name of the job');
  t.equal(upstreamSetCookie('a=1;\tDomain=job.test; Path=/', false), 'a=1; Path=/', 'a tab before Domain');
  t.equal(upstreamSetCookie('a=1; Domain\t=job.test; Path=/', false), 'a=1; Path=/', 'a tab after Domain');
});
