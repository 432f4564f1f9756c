import fc from 'fast-check';
import t from 'tap';
import { identityHeaders } from '../../src/gate/identity.js';
import { parseSelector } from '../../src/selector/index.js';
import type { TokenRecord } from '../../src/tokens/record.js';
import { check } from '../helpers/property.js';

/**
 * The identity headers the upstream gets (X-Jobgate-Token-Id, -Token-Name, -Role): the token's id
 * and role as they are, its name as sent when it is printable ASCII, else percent-encoded whole,
 * so that no name can put a control character or a byte above 0x7e in a header.
 */

function token(name: string, role: 'read' | 'operator' = 'read', id = 'tok-1'): TokenRecord {
  return {
    id,
    name,
    role,
    labelSelector: '',
    selector: parseSelector(''),
    secretHash: '0'.repeat(64),
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: undefined,
    expiresAtMs: undefined,
  };
}

t.test('the id, the name and the role, as the upstream reads them', async (t) => {
  t.same(identityHeaders(token('notebook reader', 'read', 'c0ffee-1')), { tokenId: 'c0ffee-1', tokenName: 'notebook reader', role: 'read' });
  t.same(identityHeaders(token('ops', 'operator', 'id-2')), { tokenId: 'id-2', tokenName: 'ops', role: 'operator' });
});

t.test('which names are sent as they are, and which are percent-encoded whole', async (t) => {
  const cases: [string, string, string][] = [
    ['printable ASCII, space and tilde at the edges of the range', ' a~', ' a~'],
    ['every printable character but %', '!"#$&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~', '!"#$&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'],
    ['a % (it would read as an escape)', '100%', '100%25'],
    ['a % first', '%41', '%2541'],
    ['a tab (below 0x20)', 'a\tb', 'a%09b'],
    ['0x1f, the last control character', 'a\u001f', 'a%1F'],
    ['DEL (0x7f)', 'a\u007f', 'a%7F'],
    ['a letter above ASCII', 'café', 'caf%C3%A9'],
    ['a letter above ASCII first', 'éa b', '%C3%A9a%20b'],
    ['a CR LF that would split the header', 'x\r\nX-Jobgate-Role: operator', 'x%0D%0AX-Jobgate-Role%3A%20operator'],
  ];
  for (const [what, name, sent] of cases) t.equal(identityHeaders(token(name)).tokenName, sent, what);
});

t.test('the same headers for the same record, other headers for a renamed one', async (t) => {
  const record = token('first');
  t.equal(identityHeaders(record).tokenName, 'first');
  t.equal(identityHeaders(record).tokenName, 'first', 'asked again');
  t.equal(identityHeaders({ ...record, name: 'renamed' }).tokenName, 'renamed', 'a new record (a renamed token) is not served the old name');
});

t.test('property: any name gives a header-safe value that decodes back to the name', async () => {
  await check(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
      const sent = identityHeaders(token(name)).tokenName;
      for (let i = 0; i < sent.length; i++) {
        const code = sent.charCodeAt(i);
        if (code < 0x20 || code > 0x7e) return false;
      }
      const plain = /^[\x20-\x24\x26-\x7e]*$/.test(name);
      return plain ? sent === name : sent === encodeURIComponent(name) && decodeURIComponent(sent) === name;
    }),
  );
});
