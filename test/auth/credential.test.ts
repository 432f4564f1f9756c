import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { readCredential } from '../../src/auth/credential.js';
import { checkToken, mintToken } from '../../src/tokens/format.js';

/** The two header views Node gives a handler: joined headers and the raw list. */
function req(rawHeaders: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (headers[name] === undefined) headers[name] = rawHeaders[i + 1]!;
  }
  return { headers, rawHeaders } as unknown as IncomingMessage;
}

const minted = mintToken();

t.test('a bearer token, with any case of the scheme', async (t) => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    const credential = readCredential(req(['Authorization', `${scheme} ${minted.value}`]));
    t.equal(credential.kind, 'bearer', scheme);
    if (credential.kind === 'bearer') t.equal(credential.token.id, minted.id);
  }
  t.equal(readCredential(req(['authorization', `Bearer   ${minted.value}`])).kind, 'bearer', 'extra spaces after the scheme');
});

t.test('no credential, or another scheme', async (t) => {
  t.equal(readCredential(req([])).kind, 'none');
  t.equal(readCredential(req(['Authorization', 'Basic dXNlcjpwYXNz'])).kind, 'other-scheme');
  t.equal(readCredential(req(['Authorization', 'Bearerx abc'])).kind, 'other-scheme');
  t.equal(readCredential(req(['Authorization', 'Digest x'])).kind, 'other-scheme');
});

t.test('malformed bearer credentials', async (t) => {
  for (const value of ['Bearer', 'Bearer abc', `Bearer ${minted.value}x`, `Bearer ${'a'.repeat(10_000)}`, `Bearer ${minted.value.toUpperCase()}`]) {
    t.equal(readCredential(req(['Authorization', value])).kind, 'malformed', value.slice(0, 40));
  }
});

t.test('the credential is read without hashing: a wrong checksum is found when the token is resolved', async (t) => {
  const tampered = minted.value.slice(0, -1) + (minted.value.endsWith('0') ? '1' : '0');
  const credential = readCredential(req(['Authorization', `Bearer ${tampered}`]));
  t.equal(credential.kind, 'bearer');
  if (credential.kind === 'bearer') {
    t.equal(credential.token.id, minted.id, 'the id is readable from the shape alone');
    t.equal(checkToken(credential.token), undefined, 'the checksum fails');
  }
  const good = readCredential(req(['Authorization', `Bearer ${minted.value}`]));
  t.ok(good.kind === 'bearer' && checkToken(good.token), 'a right checksum passes');
});

t.test('two Authorization headers', async (t) => {
  t.equal(readCredential(req(['Authorization', `Bearer ${minted.value}`, 'AUTHORIZATION', 'Basic x'])).kind, 'duplicate');
});
