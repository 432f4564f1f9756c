/**
 * A strict, iterative JSON scanner that sees what JSON.parse hides: a key given twice (JSON.parse
 * keeps the last, other parsers the first), and a key that is a case variant of one jobgate reads
 * (Go's encoding/json, .NET and Jackson can bind keys case-insensitively, with Unicode simple case
 * folding: `ſ` U+017F matches `s`, `K` U+212A KELVIN SIGN matches `k`). It also reports where the
 * watched objects close, so that a caller can add members without re-serializing the body.
 * Pure, no regular expressions, no recursion: nesting is bounded by {@link MAX_JSON_DEPTH}.
 */

/** The deepest nesting of objects and arrays a checked body may have. */
export const MAX_JSON_DEPTH = 256;

/** What jobgate reads in one object of a body. */
export interface WatchedObject {
  /**
   * The keys jobgate interprets here: `'all'` (every key, e.g. a labels map), or these exact
   * names (other keys are not looked at).
   */
  readonly keys: 'all' | readonly string[];
  /** Members (by exact name) whose object values jobgate reads too. */
  readonly children?: Readonly<Record<string, WatchedObject>>;
}

/** Where a watched object ends: the index of its `}`, and how many members it has. */
export interface ObjectSpan {
  readonly close: number;
  readonly members: number;
}

/** Why a body is refused. `where` names the object: '' for the top level, else the member path. */
export type JsonKeyProblem =
  | { readonly kind: 'syntax' }
  | { readonly kind: 'too-deep' }
  | { readonly kind: 'duplicate'; readonly key: string; readonly where: string }
  | { readonly kind: 'variant'; readonly key: string; readonly of: string; readonly where: string };

/** A scan: the spans of the watched objects that are objects in the body (keyed by member path), or the problem. */
export type JsonKeyScan = { readonly ok: true; readonly spans: ReadonlyMap<string, ObjectSpan> } | ({ readonly ok: false } & JsonKeyProblem);

/**
 * The key under which parsers that match keys case-insensitively would confuse two keys: upper
 * then lower case, which puts every member of a Unicode simple case-fold orbit (and more: `ß` and
 * `ss`) on one value. Over-matching only refuses a body, never lets one through.
 */
export function foldKey(key: string): string {
  return key.toUpperCase().toLowerCase();
}

interface Frame {
  readonly array: boolean;
  readonly watched: WatchedObject | undefined;
  readonly where: string;
  /** fold -> the key given, for the keys jobgate interprets here. */
  readonly seen: Map<string, string> | undefined;
  /** fold -> exact name, when `watched.keys` lists names. */
  readonly names: ReadonlyMap<string, string> | undefined;
  members: number;
}

const namesCache = new WeakMap<WatchedObject, ReadonlyMap<string, string>>();

function foldedNames(watched: WatchedObject): ReadonlyMap<string, string> | undefined {
  if (watched.keys === 'all') return undefined;
  let names = namesCache.get(watched);
  if (names === undefined) {
    names = new Map(watched.keys.map((name) => [foldKey(name), name]));
    namesCache.set(watched, names);
  }
  return names;
}

const SYNTAX = { ok: false, kind: 'syntax' } as const;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** The one-character escapes of JSON strings, by the character after the backslash. */
const SIMPLE_ESCAPES: ReadonlyMap<number, string> = new Map([
  [0x22, '"'],
  [0x5c, '\\'],
  [0x2f, '/'],
  [0x62, '\b'],
  [0x66, '\f'],
  [0x6e, '\n'],
  [0x72, '\r'],
  [0x74, '\t'],
]);

/** A JSON string starting at the `"` at `start`: the index after its closing quote and, when `decode`, its value; -1 when malformed. */
function scanString(text: string, start: number, decode: boolean): { end: number; value: string } {
  let value = '';
  let runStart = start + 1;
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      if (decode) value += text.slice(runStart, i);
      return { end: i + 1, value };
    }
    if (c < 0x20) break;
    if (c !== 0x5c) continue;
    if (decode) value += text.slice(runStart, i);
    const e = text.charCodeAt(i + 1);
    let decoded = SIMPLE_ESCAPES.get(e);
    if (decoded === undefined) {
      if (e !== 0x75 /* u */) return { end: -1, value: '' };
      let code = 0;
      for (let k = 2; k < 6; k++) {
        const h = hexValue(text.charCodeAt(i + k));
        if (h < 0) return { end: -1, value: '' };
        code = code * 16 + h;
      }
      decoded = String.fromCharCode(code);
      i += 4;
    }
    if (decode) value += decoded;
    i += 1;
    runStart = i + 1;
  }
  return { end: -1, value: '' };
}

/** The index after a JSON number starting at `start`, or -1. */
function scanNumber(text: string, start: number): number {
  let i = start;
  if (text.charCodeAt(i) === 0x2d) i++;
  if (text.charCodeAt(i) === 0x30) i++;
  else if (isDigit(text.charCodeAt(i))) while (isDigit(text.charCodeAt(i))) i++;
  else return -1;
  if (text.charCodeAt(i) === 0x2e) {
    i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  const e = text.charCodeAt(i) | 0x20;
  if (e === 0x65) {
    i++;
    const sign = text.charCodeAt(i);
    if (sign === 0x2b || sign === 0x2d) i++;
    if (!isDigit(text.charCodeAt(i))) return -1;
    while (isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}

function scanLiteral(text: string, start: number, literal: string): number {
  return text.startsWith(literal, start) ? start + literal.length : -1;
}

/**
 * Scans `text` from `start` as exactly one JSON value (RFC 8259, as strict as JSON.parse) and
 * checks the keys of the objects `root` describes: the top-level value, when it is an object,
 * and the object values of the members `root.children` names, recursively. In each, a key jobgate
 * interprets that appears twice (after unescaping) is a `duplicate`; one that folds to the same
 * key as another one, or as a listed name, without being equal to it is a `variant`. Keys of other
 * objects are not compared (jobgate does not read them). Never throws.
 */
export function scanJsonKeys(text: string, start: number, root: WatchedObject): JsonKeyScan {
  const spans = new Map<string, ObjectSpan>();
  const stack: Frame[] = [];
  let i = start;
  let pending: { watched: WatchedObject; where: string } | undefined = { watched: root, where: '' };

  const skip = () => {
    while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
  };

  for (;;) {
    // A value is expected at i.
    skip();
    const c = text.charCodeAt(i);
    const watched = pending;
    pending = undefined;
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= MAX_JSON_DEPTH) return { ok: false, kind: 'too-deep' };
      const array = c === 0x5b;
      const object = !array && watched !== undefined ? watched : undefined;
      stack.push({
        array,
        watched: object?.watched,
        where: object?.where ?? '',
        seen: object ? new Map() : undefined,
        names: object ? foldedNames(object.watched) : undefined,
        members: 0,
      });
      i++;
      skip();
      const close = text.charCodeAt(i);
      if (close === (array ? 0x5d : 0x7d)) {
        // An empty container: closed below, as after any value.
        i--;
      } else if (array) {
        continue;
      } else {
        const key = readKey();
        if (key !== undefined) return key;
        continue;
      }
    } else {
      let end: number;
      if (c === 0x22) end = scanString(text, i, false).end;
      else if (c === 0x74) end = scanLiteral(text, i, 'true');
      else if (c === 0x66) end = scanLiteral(text, i, 'false');
      else if (c === 0x6e) end = scanLiteral(text, i, 'null');
      else if (c === 0x2d || isDigit(c)) end = scanNumber(text, i);
      else return SYNTAX;
      if (end === -1) return SYNTAX;
      i = end - 1;
    }
    // After a value (i at its last character): close containers, or go on with the next member.
    i++;
    for (;;) {
      skip();
      const top = stack[stack.length - 1];
      if (top === undefined) return i === text.length ? { ok: true, spans } : SYNTAX;
      const d = text.charCodeAt(i);
      if (d === 0x2c /* , */) {
        i++;
        if (top.array) break;
        const key = readKey();
        if (key !== undefined) return key;
        break;
      }
      if (d !== (top.array ? 0x5d : 0x7d)) return SYNTAX;
      stack.pop();
      if (top.watched !== undefined) spans.set(top.where, { close: i, members: top.members });
      i++;
    }
  }

  /** Reads `"key":` in the object on top of the stack, checks it, and sets `pending` for its value; a refusal, or undefined. */
  function readKey(): ({ ok: false } & JsonKeyProblem) | undefined {
    skip();
    if (text.charCodeAt(i) !== 0x22) return SYNTAX;
    const frame = stack[stack.length - 1]!;
    const watched = frame.watched;
    const { end, value: key } = scanString(text, i, watched !== undefined);
    if (end === -1) return SYNTAX;
    i = end;
    skip();
    if (text.charCodeAt(i) !== 0x3a /* : */) return SYNTAX;
    i++;
    frame.members++;
    if (watched === undefined) return undefined;
    const fold = foldKey(key);
    if (frame.names !== undefined) {
      const name = frame.names.get(fold);
      if (name === undefined) return undefined;
      if (key !== name) return { ok: false, kind: 'variant', key, of: name, where: frame.where };
    }
    const earlier = frame.seen!.get(fold);
    if (earlier !== undefined) {
      return earlier === key ? { ok: false, kind: 'duplicate', key, where: frame.where } : { ok: false, kind: 'variant', key, of: earlier, where: frame.where };
    }
    frame.seen!.set(fold, key);
    const child = watched.children?.[key];
    if (child !== undefined && Object.hasOwn(watched.children!, key)) pending = { watched: child, where: frame.where === '' ? key : `${frame.where}.${key}` };
    return undefined;
  }
}
