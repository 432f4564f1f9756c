import { decodeJwt } from 'jose';
import t from 'tap';
import { loadAssertionKeys } from '../../src/assertion/keys.js';
import { AssertionSigner } from '../../src/assertion/signer.js';
import { tokenRecord } from '../helpers/fixtures.js';

const keys = await loadAssertionKeys(undefined, [], 'ES256');

function signerAt(clock: { ms: number }): AssertionSigner {
  return new AssertionSigner(keys, 'https://jobgate.test', () => clock.ms);
}

t.test('one assertion per (token, version, audience), reused until 20 s before it expires', async (t) => {
  const clock = { ms: 1_800_000_000_000 };
  const signer = signerAt(clock);
  const token = tokenRecord('read');
  t.equal(signer.cached(token, 'nb1'), undefined, 'nothing before the first signature');
  const first = await signer.assertionFor(token, 'nb1');
  t.equal(signer.cached(token, 'nb1'), first);
  t.equal(await signer.assertionFor(token, 'nb1'), first, 'reused');
  t.match(decodeJwt(first), { aud: 'nb1', sub: token.id, name: 'tester', role: 'read' });

  clock.ms += 39_000;
  t.equal(signer.cached(token, 'nb1'), first, 'still served 39 s later');
  clock.ms += 2_000;
  t.equal(signer.cached(token, 'nb1'), undefined, 'refreshed 40 s after signing, 20 s before exp');
  const second = await signer.assertionFor(token, 'nb1');
  t.not(second, first);
  t.ok(decodeJwt(second).iat! > decodeJwt(first).iat!);
});

t.test('other audiences are signed apart and kept; a renewed token (new version) is signed again', async (t) => {
  const signer = signerAt({ ms: 1_800_000_000_000 });
  const token = tokenRecord('operator');
  const job = await signer.assertionFor(token, 'nb1');
  const api = await signer.assertionFor(token, 'api.test');
  t.not(job, api);
  t.equal(decodeJwt(api).aud, 'api.test');
  t.equal(signer.cached(token, 'nb1'), job, 'the first audience is still cached');
  t.equal(signer.cached(token, 'api.test'), api);

  const renewed = { ...token, version: 2 };
  t.equal(signer.cached(renewed, 'nb1'), undefined, 'an assertion of version 1 is not served for version 2');
  const again = await signer.assertionFor(renewed, 'nb1');
  t.not(again, job);
  t.equal(signer.cached(token, 'api.test'), undefined, "version 1's assertions are dropped once version 2 signs");
});

t.test('a token keeps its latest 8 audiences', async (t) => {
  const signer = signerAt({ ms: 1_800_000_000_000 });
  const token = tokenRecord('operator');
  const signed = new Map<string, string>();
  for (let i = 0; i < 10; i++) signed.set(`job${i}`, await signer.assertionFor(token, `job${i}`));
  for (let i = 0; i < 10; i++) {
    const cached = signer.cached(token, `job${i}`);
    if (i < 2) t.equal(cached, undefined, `job${i} was dropped`);
    else t.equal(cached, signed.get(`job${i}`), `job${i} is kept`);
  }
});

t.test('a record whose name or role changed in place (same version) is signed again, and the old claims are dropped', async (t) => {
  const signer = signerAt({ ms: 1_800_000_000_000 });
  const token = tokenRecord('operator');
  const first = await signer.assertionFor(token, 'job:nb1');
  await signer.assertionFor(token, 'job:nb2');
  const renamed = { ...token, name: 'renamed' };
  t.equal(signer.cached(renamed, 'job:nb1'), undefined, 'another name: not served from the cache');
  t.match(decodeJwt(await signer.assertionFor(renamed, 'job:nb1')), { sub: token.id, name: 'renamed', role: 'operator' });
  const demoted = { ...renamed, role: 'read' as const };
  t.equal(signer.cached(demoted, 'job:nb1'), undefined, 'another role: not served from the cache');
  t.match(decodeJwt(await signer.assertionFor(demoted, 'job:nb1')), { sub: token.id, name: 'renamed', role: 'read' });
  t.equal(signer.cached(demoted, 'job:nb2'), undefined, 'other audiences signed with the old claims are not served either');
  t.equal(signer.cached(token, 'job:nb1'), undefined, "the old claims' assertions are dropped");
  t.not(first, signer.cached(demoted, 'job:nb1'));
});
