/**
 * Parser for Kubernetes label selectors:
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>n`, `k<n`, joined by ','.
 * It accepts and refuses what apimachinery's `labels.Parse` does (test/selector/kubernetes.test.ts
 * holds its test suite); the few deliberate differences are listed on {@link parseSelector}.
 */
import { INT64_MAX, isInt64 } from './integer.js';
import { labelKeyProblem, labelValueProblem } from './labels.js';

/** One comma-separated term of a selector. `eq` covers both '=' and '=='. */
export type Requirement =
  | { readonly op: 'eq'; readonly key: string; readonly value: string }
  | { readonly op: 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: 'notexists'; readonly key: string }
  /** `k>n` and `k<n`: the label's value, read as a 64-bit integer, compared with `value` (digits). */
  | { readonly op: 'gt' | 'lt'; readonly key: string; readonly value: string };

/** A parsed selector: all requirements must hold (logical AND). */
export interface Selector {
  /** The text as given, without surrounding whitespace. */
  readonly source: string;
  readonly requirements: readonly Requirement[];
  /** True when there are no requirements: the selector matches every job. */
  readonly empty: boolean;
}

/** A selector that does not parse; `position` is the 0-based index into the input. */
export class SelectorError extends Error {
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.name = 'SelectorError';
    this.position = position;
  }
}

/** The longest selector text accepted, in characters. */
export const MAX_SELECTOR_LENGTH = 4096;

/** The selector with no requirements; it matches every job. */
export const EMPTY_SELECTOR: Selector = Object.freeze({ source: '', requirements: Object.freeze([]), empty: true });

/** A lexical token: `in` and `notin` are words, their role depends on where they stand. */
export interface SelectorToken {
  readonly kind: 'word' | 'symbol' | 'end';
  readonly text: string;
  readonly start: number;
}

/** Whitespace as Kubernetes sees it. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function isSymbolChar(c: string | undefined): boolean {
  return c === '=' || c === '!' || c === '(' || c === ')' || c === ',' || c === '>' || c === '<';
}

/**
 * Splits the text into words (runs of anything but spaces and symbols), symbols (`==` and `!=`
 * are one symbol, as Kubernetes' lexer takes the longest), and a final end token. Exported for
 * the tests of Kubernetes' lexer cases.
 */
export function tokenizeSelector(text: string): SelectorToken[] {
  const tokens: SelectorToken[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const start = i;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (isSymbolChar(c)) {
      i += (c === '=' || c === '!') && text[i + 1] === '=' ? 2 : 1;
      tokens.push({ kind: 'symbol', text: text.slice(start, i), start });
      continue;
    }
    while (i < text.length && !isSpace(text[i]) && !isSymbolChar(text[i])) i++;
    tokens.push({ kind: 'word', text: text.slice(start, i), start });
  }
  tokens.push({ kind: 'end', text: '', start: text.length });
  return tokens;
}

function isSymbol(token: SelectorToken, text: string): boolean {
  return token.kind === 'symbol' && token.text === text;
}

function unexpected(token: SelectorToken, expected: string): never {
  const found = token.kind === 'end' ? 'end of selector' : token.kind === 'word' ? JSON.stringify(token.text) : `'${token.text}'`;
  throw new SelectorError(`unexpected ${found} at ${token.start}: expected ${expected}`, token.start);
}

/**
 * Parses a Kubernetes label selector. Empty or whitespace-only text gives
 * {@link EMPTY_SELECTOR}. Follows Kubernetes: `k=` (and `k==`, `k!=`) compares
 * with the empty value; an empty entry in a list (`k in (a,)`), and the empty
 * list `k in ()`, is the empty value; `k>n` and `k<n` need `n` to be a label
 * value that is a 64-bit integer. Repeated list values are dropped.
 *
 * Deliberate differences from apimachinery's `labels.Parse`, all refusing more:
 * text longer than {@link MAX_SELECTOR_LENGTH}; a NUL character, which Kubernetes'
 * lexer takes for the end of the text (`x\0garbage` is `x` there), and here is
 * part of a word, so an invalid key or value. Requirements keep their order
 * (Kubernetes sorts them by key), which changes no match.
 *
 * @throws SelectorError with the position and the reason.
 */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(`selector too long at ${MAX_SELECTOR_LENGTH}: at most ${MAX_SELECTOR_LENGTH} characters are allowed`, MAX_SELECTOR_LENGTH);
  }
  const tokens = tokenizeSelector(text);
  if (tokens.length === 1) return EMPTY_SELECTOR;
  const cursor = new TokenCursor(tokens);
  const requirements: Requirement[] = [];
  for (;;) {
    requirements.push(requirement(cursor));
    const token = cursor.take();
    if (token.kind === 'end') break;
    if (!isSymbol(token, ',')) unexpected(token, "',' or end of selector");
  }
  return { source: text.slice(tokens[0]!.start, text.length - trailingSpaces(text)), requirements, empty: false };
}

/** Reads tokens in order; the end token, once reached, stays. */
class TokenCursor {
  private index = 0;

  constructor(private readonly tokens: readonly SelectorToken[]) {}

  peek(): SelectorToken {
    return this.tokens[this.index]!;
  }

  take(): SelectorToken {
    const token = this.tokens[this.index]!;
    if (token.kind !== 'end') this.index++;
    return token;
  }
}

/** One requirement: `!k`, `k`, or a key, an operator and its value or values. */
function requirement(cursor: TokenCursor): Requirement {
  const first = cursor.take();
  if (isSymbol(first, '!')) return { op: 'notexists', key: labelKey(cursor.take(), 'a key') };
  const k = labelKey(first, "a key or '!'");
  const op = cursor.peek();
  if (op.kind === 'end' || isSymbol(op, ',')) return { op: 'exists', key: k };
  cursor.take();
  if (op.kind === 'word' && (op.text === 'in' || op.text === 'notin')) {
    return { op: op.text, key: k, values: valueList(cursor) };
  }
  if (isSymbol(op, '=') || isSymbol(op, '==')) return { op: 'eq', key: k, value: exactValue(cursor) };
  if (isSymbol(op, '!=')) return { op: 'neq', key: k, value: exactValue(cursor) };
  if (isSymbol(op, '>')) return { op: 'gt', key: k, value: integerValue(cursor, op) };
  if (isSymbol(op, '<')) return { op: 'lt', key: k, value: integerValue(cursor, op) };
  return unexpected(op, "'=', '==', '!=', '>', '<', 'in', 'notin', ',' or end of selector");
}

function labelKey(token: SelectorToken, expected: string): string {
  if (token.kind !== 'word') unexpected(token, expected);
  const problem = labelKeyProblem(token.text);
  if (problem !== undefined) {
    throw new SelectorError(`invalid label key ${JSON.stringify(token.text)} at ${token.start}: ${problem}`, token.start);
  }
  return token.text;
}

function labelValue(token: SelectorToken): string {
  const problem = labelValueProblem(token.text);
  if (problem !== undefined) {
    throw new SelectorError(`invalid label value ${JSON.stringify(token.text)} at ${token.start}: ${problem}`, token.start);
  }
  return token.text;
}

/** The value after '=', '==' or '!='; absent means the empty value. */
function exactValue(cursor: TokenCursor): string {
  const token = cursor.peek();
  if (token.kind === 'end' || isSymbol(token, ',')) return '';
  if (token.kind !== 'word') unexpected(token, 'a value');
  return labelValue(cursor.take());
}

/** The value after '>' or '<': a label value that is a 64-bit integer. */
function integerValue(cursor: TokenCursor, operator: SelectorToken): string {
  const token = cursor.peek();
  const v = exactValue(cursor);
  if (!isInt64(v)) {
    const at = token.kind === 'word' ? token.start : operator.start + operator.text.length;
    throw new SelectorError(
      `invalid value ${JSON.stringify(v)} at ${at}: '${operator.text}' compares integers, so the value must be a whole number (digits, at most ${INT64_MAX})`,
      at,
    );
  }
  return v;
}

/** `( v1, v2, ... )`; an empty entry, or no entry at all, is the empty value. */
function valueList(cursor: TokenCursor): string[] {
  const open = cursor.take();
  if (!isSymbol(open, '(')) unexpected(open, "'('");
  const values: string[] = [];
  for (;;) {
    const token = cursor.peek();
    let v = '';
    if (token.kind === 'word') v = labelValue(cursor.take());
    else if (!isSymbol(token, ',') && !isSymbol(token, ')')) unexpected(token, "a value, ',' or ')'");
    if (!values.includes(v)) values.push(v);
    const separator = cursor.take();
    if (isSymbol(separator, ')')) return values;
    if (!isSymbol(separator, ',')) unexpected(separator, "',' or ')'");
  }
}

function trailingSpaces(text: string): number {
  let n = 0;
  while (isSpace(text[text.length - 1 - n])) n++;
  return n;
}

/**
 * Canonical text of a selector, e.g. `a=b,c!=d,e in (x,y),f notin (z),g,!h,i>1`:
 * Kubernetes' form, except that requirements and values keep their order (Kubernetes
 * sorts both) and `==` is written `=` (the same requirement), so parsing the result gives
 * the same requirements back.
 */
export function formatSelector(selector: Selector): string {
  const parts: string[] = [];
  for (const r of selector.requirements) {
    switch (r.op) {
      case 'eq':
        parts.push(`${r.key}=${r.value}`);
        break;
      case 'neq':
        parts.push(`${r.key}!=${r.value}`);
        break;
      case 'in':
      case 'notin':
        // A lone empty value is written `()`, as Kubernetes writes it.
        parts.push(`${r.key} ${r.op} (${r.values.join(',')})`);
        break;
      case 'gt':
        parts.push(`${r.key}>${r.value}`);
        break;
      case 'lt':
        parts.push(`${r.key}<${r.value}`);
        break;
      case 'exists':
        parts.push(r.key);
        break;
      case 'notexists':
        parts.push(`!${r.key}`);
        break;
    }
  }
  return parts.join(',');
}
