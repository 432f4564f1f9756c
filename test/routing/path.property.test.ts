import fc from 'fast-check';
import t from 'tap';
import { upstreamPath } from '../../src/proxy/upstream-path.js';
import { escapesBasePath, hasDotSegment } from '../../src/routing/path.js';
import { check } from '../helpers/property.js';

const UPSTREAM = new URL('http://upstream.test/jobs/pathjob/');
const PREFIX = '/jobs/pathjob';

const under = (path: string) => path === PREFIX || path.startsWith(`${PREFIX}/`);

/** How a WHATWG URL parser (browsers, Node, undici) resolves the upstream path. */
function whatwgPath(upstream: string): string {
  return new URL(upstream, 'http://upstream.test').pathname;
}

/** Percent-decodes ASCII bytes, repeatedly (as servers that decode twice, or sit behind one that decodes). */
function decodeAll(text: string): string {
  for (let round = 0; round < 8; round++) {
    const decoded = text.replace(/%([0-7][0-9a-fA-F])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (decoded === text) return text;
    text = decoded;
  }
  return text;
}

/**
 * How a lenient server resolves it: decode everything, `\` is `/`, `;` and NUL end a segment,
 * trailing spaces are dropped and a segment of dots only is `..` (Windows), then RFC 3986
 * remove_dot_segments.
 */
function lenientPath(upstream: string): string {
  const path = decodeAll(upstream.split('?')[0]!).replaceAll('\\', '/');
  const out: string[] = [];
  for (let segment of path.split('/').slice(1)) {
    segment = segment.split(/[;\0]/)[0]!.replace(/[ \t]+$/, '');
    if (/^\.+$/.test(segment)) {
      if (segment === '.') continue;
      out.pop();
    } else {
      out.push(segment);
    }
  }
  return `/${out.join('/')}`;
}

const safePieces = ['a', 'b', 'x.y', '.hidden', '..b', 'b..', '%2e%2ehidden', '%41', '%20', '%zz', '%', 'é', '~', ';', ';x=1', '?', '?q=/../..', '#', '//'];
const dotPieces = [
  '.',
  '..',
  '...',
  '%2e',
  '%2E',
  '%2e%2e',
  '%2E%2e',
  '.%2e',
  '%2e.',
  '%252e',
  '%25252e',
  '%2525252e%2525252e',
  '.. ',
  '..%20',
  '..%00',
  '..;',
  '..;x',
];
const separators = ['/', '\\', '%2f', '%2F', '%5c', '%5C', '%255c'];

const path = (pieces: string[]) =>
  fc
    .array(fc.tuple(fc.constantFrom(...separators), fc.constantFrom(...pieces)), { maxLength: 8 })
    .map((parts) => `/${parts.map(([sep, piece], i) => (i === 0 ? piece : sep + piece)).join('')}`);

const anyPath = fc.oneof(
  path([...safePieces, ...dotPieces]),
  path([...safePieces, ...dotPieces]).map((p) => `http://pathjob.job.test${p}`),
  fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `/${s}`),
);

t.test('a request path is refused, or the upstream resolves it under the base path by WHATWG and lenient rules', async () => {
  check(
    fc.property(anyPath, (target) => {
      if (escapesBasePath(UPSTREAM, target)) return;
      const forwarded = upstreamPath(UPSTREAM, target);
      const byWhatwg = whatwgPath(forwarded);
      if (!under(byWhatwg)) throw new Error(`${target} -> ${forwarded} -> WHATWG ${byWhatwg}`);
      const byLenient = lenientPath(forwarded);
      if (!under(byLenient)) throw new Error(`${target} -> ${forwarded} -> lenient ${byLenient}`);
    }),
    2000,
  );
});

t.test('paths without dot segments are never refused', async () => {
  check(
    fc.property(path(safePieces), (target) => {
      if (escapesBasePath(UPSTREAM, target)) throw new Error(`refused ${target}`);
    }),
    1000,
  );
});

t.test('an upstream without a base path is never refused; the check never throws', async () => {
  const root = new URL('http://upstream.test/');
  check(
    fc.property(anyPath, (target) => {
      if (escapesBasePath(root, target)) throw new Error(`refused ${target}`);
      if (typeof hasDotSegment(target) !== 'boolean') throw new Error('not a boolean');
    }),
  );
});
