import fc from 'fast-check';
import t from 'tap';
import { absoluteLocation, safeNext, splitDeepLink } from '../../src/session/browser.js';
import { check } from '../helpers/property.js';

/** Pieces that URL parsers treat specially: slashes, backslashes, controls that browsers strip, schemes, userinfo. */
const HOSTILE_PIECES = [
  '/',
  '//',
  '\\',
  '\\\\',
  '\t',
  '\n',
  '\r',
  ' ',
  '\u0000',
  '\u00a0',
  '\u3000',
  '%2f',
  '%5c',
  '%09',
  '%0a',
  '@',
  ':',
  '#',
  '?',
  '.',
  '..',
  'evil.example',
  'https:',
  'http:',
  'javascript:',
  'user:pw@',
  '&',
  '=',
  'jobgate_token=x',
  '\u2215',
  '\uff0f',
];

const hostileText = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE_PIECES), fc.string({ maxLength: 4 }), fc.string({ unit: 'binary', maxLength: 3 })), { maxLength: 12 })
  .map((parts) => parts.join(''));
const anyPath = fc.oneof(hostileText, fc.string({ unit: 'grapheme-ascii' }), fc.webUrl(), fc.webPath());

/** True when `target` is a path that, resolved against the job's URL, stays on the job's host. */
function staysOnJob(target: string): boolean {
  if (target.charCodeAt(0) !== 47) return false;
  const resolved = new URL(target, 'http://job.example/');
  return resolved.host === 'job.example' && resolved.protocol === 'http:' && resolved.username === '' && resolved.password === '';
}

t.test("a deep link always redirects to a path on the job's host", async (t) => {
  await check(
    fc.property(anyPath, hostileText, (path, query) => {
      const link = splitDeepLink(`${path}?${query}&jobgate_token=x`);
      if (!link) throw new Error(`not read as a deep link: ${JSON.stringify(path)}`);
      if (!staysOnJob(link.rest)) throw new Error(`${JSON.stringify(path)} redirects to ${JSON.stringify(link.rest)}`);
    }),
    2000,
  );
  t.pass('no input leaves the job host');
});

t.test("the login form's next is a path on the job's host, whatever is posted", async (t) => {
  await check(
    fc.property(anyPath, (next) => {
      if (!staysOnJob(safeNext(next))) throw new Error(`${JSON.stringify(next)} gives ${JSON.stringify(safeNext(next))}`);
    }),
    2000,
  );
  t.pass('no next leaves the job host');
});

t.test('an absolute redirect (forward-auth) names exactly the original host', async (t) => {
  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
  const plainHost = fc
    .tuple(fc.array(label, { minLength: 1, maxLength: 4 }), fc.option(fc.integer({ min: 1, max: 65535 })))
    .map(([labels, port]) => `${labels.join('.')}${port === null ? '' : `:${port}`}`);
  await check(
    fc.property(fc.oneof(plainHost, hostileText, fc.string()), anyPath, fc.boolean(), (host, path, https) => {
      const location = absoluteLocation(https, host, path);
      if (location === undefined) return;
      // A host no URL parser accepts (`a.0`) gives a Location that leads nowhere, like the Host itself.
      const expected = URL.parse(`${https ? 'https' : 'http'}://${host}/`);
      const resolved = URL.parse(location);
      if (expected === null && resolved === null) return;
      if (
        expected === null ||
        resolved === null ||
        resolved.host !== expected.host ||
        resolved.username !== '' ||
        resolved.password !== '' ||
        resolved.protocol !== expected.protocol
      ) {
        throw new Error(`${JSON.stringify(host)} + ${JSON.stringify(path)} gives ${location}`);
      }
    }),
    2000,
  );
  await check(fc.property(plainHost, (host) => absoluteLocation(false, host, '/') === `http://${host}/`));
  t.pass('no host or path names another host');
});
