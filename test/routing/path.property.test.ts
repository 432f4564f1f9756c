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

/** `text` percent-encoded `times` times over: `.` once is `%2e`, twice `%252e`. */
function encoded(text: string, times: number): string {
  let out = text;
  for (let i = 0; i < times; i++) out = out.replace(/[^/]/g, (c) => (c === '%' ? '%25' : `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return out;
}

t.test('Cases found by mutation testing', async (t) => {
  t.test('a path that needs a fifth round of decoding is refused, whatever hex digits it uses; four rounds are undone', async (t) => {
    // 'x' is %78, 'j' %6a, 'J' %4a, '9' %39, 'o' %6f, 'K' %4b, '0' %30: every hex digit is decoded in some round.
    for (const text of ['x', 'j', 'J', '9', 'o', 'K', '0']) {
      t.ok(hasDotSegment(`/a/${encoded(text, 5)}`), `${text} encoded five times`);
      t.notOk(hasDotSegment(`/a/${encoded(text, 4)}`), `${text} encoded four times`);
      t.ok(hasDotSegment(`/a/${encoded(encoded(text, 1).toUpperCase(), 4)}`), `${text} encoded five times, upper-case hex in the last round`);
    }
  });

  t.test('broken and non-ASCII escapes are kept as sent, also under four rounds of encoding', async (t) => {
    for (const escape of ['%zz', '%z0', '%0z', '%80', '%ff', '%1u', '%0`', '%2g']) {
      t.notOk(hasDotSegment(`/a/${escape}`), escape);
      t.notOk(hasDotSegment(`/a/%25252525${escape.slice(1)}`), `${escape} under four more rounds`);
    }
    t.notOk(hasDotSegment('/%1u%1u/x'), '"u" is no hex digit (it would make %1u a ".")');
    t.notOk(hasDotSegment('/..%0`/x'), '"`" is no hex digit (it would make %0` a tab)');
  });

  t.test('a tab (%09) or a space after the dots still makes a dot segment', async (t) => {
    t.ok(hasDotSegment('/..%09/x'));
    t.ok(hasDotSegment('/.%09/x'));
    t.ok(hasDotSegment('/..%20%09/x'));
    t.ok(hasDotSegment('/..%2509/x'), 'encoded twice');
    t.notOk(hasDotSegment('/..%09x/y'), 'something after the tab: a name');
  });

  t.test('only "%" starts an escape: a path that merely has hex digits after its first "/" is not decoded there', async (t) => {
    t.notOk(hasDotSegment('/2e/%41'));
    t.notOk(hasDotSegment('/2e2e/%2e%2ex'));
  });
});
