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
  return new KeyScanner(text, start, root).scan();
}

type Refusal = { readonly ok: false } & JsonKeyProblem;

/** After a step: a value follows at `i`. */
const VALUE_NEXT = 'value-next';
/** After opening a container: it was empty, and `i` is at its closing bracket. */
const OPENED_EMPTY = 'opened-empty';

/** One scan's position and state: the steps of {@link scanJsonKeys}. */
class KeyScanner {
  private readonly spans = new Map<string, ObjectSpan>();
  private readonly stack: Frame[] = [];
  private i: number;
  /** The watched object that the value at `i` is, should it be an object. */
  private pending: { watched: WatchedObject; where: string } | undefined;

  constructor(
    private readonly text: string,
    start: number,
    root: WatchedObject,
  ) {
    this.i = start;
    this.pending = { watched: root, where: '' };
  }

  scan(): JsonKeyScan {
    for (;;) {
      // A value is expected at i.
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.i);
      const watched = this.pending;
      this.pending = undefined;
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        const opened = this.open(c === 0x5b, watched);
        if (opened === VALUE_NEXT) continue;
        if (opened !== OPENED_EMPTY) return opened;
      } else {
        const end = scalarEnd(this.text, this.i, c);
        if (end === -1) return SYNTAX;
        this.i = end;
      }
      const after = this.afterValue();
      if (after !== VALUE_NEXT) return after;
    }
  }

  private skipWhitespace(): void {
    const text = this.text;
    let i = this.i;
    while (i < text.length && isWhitespace(text.charCodeAt(i))) i++;
    this.i = i;
  }

  /** Opens the object or array at `i` (its frame watches `watched`, for an object) and reads its first key. */
  private open(array: boolean, watched: { watched: WatchedObject; where: string } | undefined): Refusal | typeof VALUE_NEXT | typeof OPENED_EMPTY {
    if (this.stack.length >= MAX_JSON_DEPTH) return { ok: false, kind: 'too-deep' };
    const object = !array && watched !== undefined ? watched : undefined;
    this.stack.push({
      array,
      watched: object?.watched,
      where: object?.where ?? '',
      seen: object ? new Map() : undefined,
      names: object ? foldedNames(object.watched) : undefined,
      members: 0,
    });
    this.i++;
    this.skipWhitespace();
    const close = this.text.charCodeAt(this.i);
    // An empty container: closed by afterValue, as after any value.
    if (close === (array ? 0x5d : 0x7d)) return OPENED_EMPTY;
    if (array) return VALUE_NEXT;
    return this.readKey() ?? VALUE_NEXT;
  }

  /** After a value (`i` just past it): closes containers, or goes on with the next member; the scan's end when the top value closed. */
  private afterValue(): JsonKeyScan | typeof VALUE_NEXT {
    const { text, stack } = this;
    for (;;) {
      this.skipWhitespace();
      const top = stack[stack.length - 1];
      if (top === undefined) return this.i === text.length ? { ok: true, spans: this.spans } : SYNTAX;
      const d = text.charCodeAt(this.i);
      if (d === 0x2c /* , */) {
        this.i++;
        if (top.array) return VALUE_NEXT;
        return this.readKey() ?? VALUE_NEXT;
      }
      if (d !== (top.array ? 0x5d : 0x7d)) return SYNTAX;
      stack.pop();
      if (top.watched !== undefined) this.spans.set(top.where, { close: this.i, members: top.members });
      this.i++;
    }
  }

  /** Reads `"key":` in the object on top of the stack, checks it, and sets `pending` for its value; a refusal, or undefined. */
  private readKey(): Refusal | undefined {
    this.skipWhitespace();
    const text = this.text;
    if (text.charCodeAt(this.i) !== 0x22) return SYNTAX;
    const frame = this.stack[this.stack.length - 1]!;
    const watched = frame.watched;
    const { end, value: key } = scanString(text, this.i, watched !== undefined);
    if (end === -1) return SYNTAX;
    this.i = end;
    this.skipWhitespace();
    if (text.charCodeAt(this.i) !== 0x3a /* : */) return SYNTAX;
    this.i++;
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
    if (child !== undefined && Object.hasOwn(watched.children!, key))
      this.pending = { watched: child, where: frame.where === '' ? key : `${frame.where}.${key}` };
    return undefined;
  }
}

/** The index after the string, literal or number starting with `c` at `start`, or -1. */
function scalarEnd(text: string, start: number, c: number): number {
  if (c === 0x22) return scanString(text, start, false).end;
  if (c === 0x74) return scanLiteral(text, start, 'true');
  if (c === 0x66) return scanLiteral(text, start, 'false');
  if (c === 0x6e) return scanLiteral(text, start, 'null');
  if (c === 0x2d || isDigit(c)) return scanNumber(text, start);
  return -1;
}
