/**
 * Parser for Kubernetes label selectors:
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by ','.
 */
import { labelKeyProblem, labelValueProblem } from './labels.js';

/** One comma-separated term of a selector. `eq` covers both '=' and '=='. */
export type Requirement =
  | { readonly op: 'eq'; readonly key: string; readonly value: string }
  | { readonly op: 'neq'; readonly key: string; readonly value: string }
  | { readonly op: 'in'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'notin'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'exists'; readonly key: string }
  | { readonly op: 'notexists'; readonly key: string };

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

interface Token {
  readonly kind: 'word' | 'symbol' | 'end';
  readonly text: string;
  readonly start: number;
}

/** Whitespace as Kubernetes sees it. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function isSymbolChar(c: string | undefined): boolean {
  return c === '=' || c === '!' || c === '(' || c === ')' || c === ',';
}

/** Splits the text into words (runs of anything but spaces and symbols), symbols, and a final end token. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
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

function isSymbol(token: Token, text: string): boolean {
  return token.kind === 'symbol' && token.text === text;
}

function unexpected(token: Token, expected: string): never {
  const found =
    token.kind === 'end' ? 'end of selector' : token.kind === 'word' ? JSON.stringify(token.text) : `'${token.text}'`;
  throw new SelectorError(`unexpected ${found} at ${token.start}: expected ${expected}`, token.start);
}

/**
 * Parses a Kubernetes label selector. Empty or whitespace-only text gives
 * {@link EMPTY_SELECTOR}. Follows Kubernetes: `k=` (and `k==`, `k!=`) compares
 * with the empty value, and empty entries in a list (`k in (a,)`) are the
 * empty value; `k in ()` is rejected. Repeated list values are dropped.
 *
 * @throws SelectorError with the position and the reason.
 */
export function parseSelector(text: string): Selector {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new SelectorError(
      `selector too long at ${MAX_SELECTOR_LENGTH}: at most ${MAX_SELECTOR_LENGTH} characters are allowed`,
      MAX_SELECTOR_LENGTH,
    );
  }
  const tokens = tokenize(text);
  if (tokens.length === 1) return EMPTY_SELECTOR;
  let index = 0;
  const peek = (): Token => tokens[index]!;
  const take = (): Token => {
    const token = tokens[index]!;
    if (token.kind !== 'end') index++;
    return token;
  };

  const key = (token: Token, expected: string): string => {
    if (token.kind !== 'word') unexpected(token, expected);
    const problem = labelKeyProblem(token.text);
    if (problem !== undefined) {
      throw new SelectorError(`invalid label key ${JSON.stringify(token.text)} at ${token.start}: ${problem}`, token.start);
    }
    return token.text;
  };
  const value = (token: Token): string => {
    const problem = labelValueProblem(token.text);
    if (problem !== undefined) {
      throw new SelectorError(`invalid label value ${JSON.stringify(token.text)} at ${token.start}: ${problem}`, token.start);
    }
    return token.text;
  };
  /** The value after '=', '==' or '!='; absent means the empty value. */
  const exactValue = (): string => {
    const token = peek();
    if (token.kind === 'end' || isSymbol(token, ',')) return '';
    if (token.kind !== 'word') unexpected(token, 'a value');
    return value(take());
  };
  /** `( v1, v2, ... )`; an empty entry is the empty value. */
  const valueList = (): string[] => {
    const open = take();
    if (!isSymbol(open, '(')) unexpected(open, "'('");
    if (isSymbol(peek(), ')')) unexpected(peek(), 'at least one value');
    const values: string[] = [];
    for (;;) {
      const token = peek();
      let v = '';
      if (token.kind === 'word') v = value(take());
      else if (!isSymbol(token, ',') && !isSymbol(token, ')')) unexpected(token, "a value, ',' or ')'");
      if (!values.includes(v)) values.push(v);
      const separator = take();
      if (isSymbol(separator, ')')) return values;
      if (!isSymbol(separator, ',')) unexpected(separator, "',' or ')'");
    }
  };
  const requirement = (): Requirement => {
    const first = take();
    if (isSymbol(first, '!')) return { op: 'notexists', key: key(take(), 'a key') };
    const k = key(first, "a key or '!'");
    const op = peek();
    if (op.kind === 'end' || isSymbol(op, ',')) return { op: 'exists', key: k };
    take();
    if (op.kind === 'word' && (op.text === 'in' || op.text === 'notin')) {
      return { op: op.text, key: k, values: valueList() };
    }
    if (isSymbol(op, '=') || isSymbol(op, '==')) return { op: 'eq', key: k, value: exactValue() };
    if (isSymbol(op, '!=')) return { op: 'neq', key: k, value: exactValue() };
    return unexpected(op, "'=', '==', '!=', 'in', 'notin', ',' or end of selector");
  };

  const requirements: Requirement[] = [];
  for (;;) {
    requirements.push(requirement());
    const token = take();
    if (token.kind === 'end') break;
    if (!isSymbol(token, ',')) unexpected(token, "',' or end of selector");
  }
  return { source: text.slice(tokens[0]!.start, text.length - trailingSpaces(text)), requirements, empty: false };
}

function trailingSpaces(text: string): number {
  let n = 0;
  while (isSpace(text[text.length - 1 - n])) n++;
  return n;
}

/**
 * Canonical text of a selector, e.g. `a=b,c!=d,e in (x,y),f notin (z),g,!h`.
 * Requirements and values keep their order, so parsing the result gives the
 * same requirements back.
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
        // A lone empty value is written `(,)`, since `()` does not parse.
        parts.push(`${r.key} ${r.op} (${r.values.join(',') || ','})`);
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
