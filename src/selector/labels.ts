/**
 * Kubernetes label rules: the shape of label keys and values.
 *
 * Validation is done with plain character loops (no regular expressions).
 */

/** A job's labels: key -> value. */
export type Labels = ReadonlyMap<string, string>;

const MAX_NAME = 63;
const MAX_PREFIX = 253;
const DASH = 0x2d;
const DOT = 0x2e;
const UNDERSCORE = 0x5f;

const PREFIX_RULE =
  "prefix part must be a lowercase DNS subdomain: 'a-z', '0-9', '-' and '.', " + 'each dot-separated part starting and ending with a letter or digit';

function isLowerAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a);
}

function isAlnum(c: number): boolean {
  return isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a);
}

/** Why `s` is not a valid label name (or non-empty value), or undefined when it is. */
function nameProblem(s: string): string | undefined {
  if (s.length === 0) return 'must not be empty';
  if (s.length > MAX_NAME) return `must be no more than ${MAX_NAME} characters`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && c !== DASH && c !== UNDERSCORE && c !== DOT) {
      return "must consist of alphanumeric characters, '-', '_' or '.'";
    }
  }
  if (!isAlnum(s.charCodeAt(0)) || !isAlnum(s.charCodeAt(s.length - 1))) {
    return 'must start and end with an alphanumeric character';
  }
  return undefined;
}

/** Why `p` is not a DNS subdomain (RFC 1123, lowercase), or undefined when it is. */
function prefixProblem(p: string): string | undefined {
  if (p.length === 0) return 'prefix part must not be empty';
  if (p.length > MAX_PREFIX) return `prefix part must be no more than ${MAX_PREFIX} characters`;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (isLowerAlnum(c)) continue;
    const inside = i > 0 && i < p.length - 1;
    if (c === DASH && inside) continue;
    if (c === DOT && inside && isLowerAlnum(p.charCodeAt(i - 1)) && isLowerAlnum(p.charCodeAt(i + 1))) continue;
    return PREFIX_RULE;
  }
  return undefined;
}

/**
 * Checks a label key against Kubernetes' rules: an optional DNS-subdomain
 * prefix (at most 253 characters) and '/', then a name of at most 63
 * characters made of [A-Za-z0-9-_.] that starts and ends with [A-Za-z0-9].
 *
 * @returns undefined when the key is valid, otherwise a human-readable reason.
 */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  if (slash >= 0) {
    if (key.indexOf('/', slash + 1) >= 0) return "must contain at most one '/'";
    const problem = prefixProblem(key.slice(0, slash));
    if (problem !== undefined) return problem;
  }
  const problem = nameProblem(key.slice(slash + 1));
  return problem === undefined ? undefined : `name part ${problem}`;
}

/**
 * Checks a label value against Kubernetes' rules: empty, or at most 63
 * characters made of [A-Za-z0-9-_.] that starts and ends with [A-Za-z0-9].
 *
 * @returns undefined when the value is valid, otherwise a human-readable reason.
 */
export function labelValueProblem(value: string): string | undefined {
  return value.length === 0 ? undefined : nameProblem(value);
}
