/**
 * The API route policy: a table of (method, path pattern, required role, scope rule), tried in
 * order, first match wins. Patterns are compiled once at start-up; matching a request
 * allocates one array of segments and compiles nothing.
 */
import { ROLES, isRole, type Role } from '../tokens/record.js';
import * as z from '../util/zod.js';
import { foldSegment, readsAsLiteral } from './path.js';

/**
 * What a scoped token (one with a label selector) may do on a route. Unscoped tokens are never
 * restricted by the scope rule (only by the role).
 * - `any`: scoped tokens pass as they are.
 * - `unscoped-only`: scoped tokens are refused (token management: a scoped token must never
 *   mint or renew a token wider than itself).
 * - `job`: `{id}` must name a job in jobgate's registry whose labels match the selector.
 * - `create-job`: the selector's equality labels are merged into the JSON body's `labels`, and
 *   the result must match the whole selector.
 * - `list-jobs`: the selector is ANDed into the `labelSelector` query parameter.
 * - `relabel-job`: as `job`, and the `{name, value}` body must keep the job within the selector.
 * - `deny-scoped`: scoped tokens are refused (also the rule for unknown paths).
 */
export const SCOPE_RULES = ['any', 'unscoped-only', 'job', 'create-job', 'list-jobs', 'relabel-job', 'deny-scoped'] as const;
export type ScopeRule = (typeof SCOPE_RULES)[number];

/**
 * One row of the table. `method` is an HTTP method (compared case-sensitively after being
 * upper-cased at compile time) or `*` for any. `path` is a pattern of `/`-separated segments:
 * a literal (matched by the request's segment as sent, and by every spelling a lenient upstream
 * could read as it: see {@link CompiledApiPolicy.match}), `{id}` (one segment, captured
 * percent-decoded as the job id), `*` (one segment) or, last, `**` (the rest of the path,
 * including nothing: `/v1/token/**` matches `/v1/token` too). `/` alone is the root path.
 */
export interface ApiRule {
  readonly method: string;
  readonly path: string;
  readonly role: Role;
  readonly scope: ScopeRule;
}

/** A matched rule, with the percent-decoded `{id}` segment when the pattern has one. */
export interface ApiMatch {
  readonly rule: ApiRule;
  readonly jobId?: string;
}

/** A compiled, immutable table. */
export interface CompiledApiPolicy {
  /** The rules in the order they are tried, methods upper-cased. */
  readonly rules: readonly ApiRule[];
  /**
   * The rule deciding `method` on `path`, or undefined (then {@link UNKNOWN_PATH_RULE}
   * applies). `path` is the raw request path without its query, already accepted by
   * `apiPathProblem`; a path with undecodable segments matches nothing.
   *
   * Upstreams disagree on how a literal may be spelled: Express and ASP.NET Core ignore case,
   * Spring and Rails a `.json` suffix, every framework decodes `%61` to `a`. So literals match
   * leniently (see `readsAsLiteral`), first match wins. When the path spells a literal in a
   * variant (anything but the literal byte for byte), it is also matched byte for byte, as a
   * strict upstream routes it, and the stricter of the two readings decides
   * ({@link stricterMatch}): a variant is decided like the canonical path, or denied.
   * `HEAD` is decided as strictly as `HEAD` and `GET` (frameworks run GET handlers for it).
   */
  match(method: string, path: string): ApiMatch | undefined;
  /**
   * The rule for `path` whatever the method: the strictest of the matches for every method.
   * For a request an upstream could run as another method (a POST whose form body may carry
   * `_method`).
   */
  matchAnyMethod(path: string): ApiMatch | undefined;
}

/**
 * Token management, pinned in front of every table built by {@link buildApiPolicy}, so that no
 * configured rule can open it to scoped or read tokens.
 */
export const TOKEN_MANAGEMENT_RULE: ApiRule = Object.freeze({ method: '*', path: '/v1/token/**', role: 'operator', scope: 'unscoped-only' });

/**
 * The default table. {@link buildApiPolicy} puts configured rules between its first rule
 * (token management) and the others. Non-GET methods on `/v1/job/{id}/label/...`
 * other than the checked `PUT /v1/job/{id}/label` are closed to scoped tokens, since removing
 * a label could move a job out of the token's scope.
 */
export const DEFAULT_API_RULES: readonly ApiRule[] = Object.freeze(
  (
    [
      TOKEN_MANAGEMENT_RULE,
      { method: 'POST', path: '/v1/job', role: 'operator', scope: 'create-job' },
      { method: 'GET', path: '/v1/job', role: 'operator', scope: 'list-jobs' },
      { method: 'PUT', path: '/v1/job/{id}/label', role: 'operator', scope: 'relabel-job' },
      { method: 'GET', path: '/v1/job/{id}/label/**', role: 'operator', scope: 'job' },
      { method: '*', path: '/v1/job/{id}/label/**', role: 'operator', scope: 'deny-scoped' },
      { method: '*', path: '/v1/job/{id}/**', role: 'operator', scope: 'job' },
    ] satisfies ApiRule[]
  ).map((rule) => Object.freeze(rule)),
);

/** The rule for API paths no row matches: operator tokens only, and unscoped ones only. */
export const UNKNOWN_PATH_RULE: ApiRule = Object.freeze({ method: '*', path: '/**', role: 'operator', scope: 'deny-scoped' });

type Segment = { readonly kind: 'literal'; readonly text: string; readonly key: string } | { readonly kind: 'id' } | { readonly kind: 'one' };

interface CompiledRule {
  readonly rule: ApiRule;
  readonly segments: readonly Segment[];
  /** Whether the pattern ends with `**`. */
  readonly rest: boolean;
  readonly hasId: boolean;
}

/** Characters of a literal pattern segment: RFC 3986 pchar without '%', ';' and '*'. */
function isLiteralChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    "-._~!$&'()+,=:@".includes(String.fromCharCode(c))
  );
}

const METHOD_CHARS = "!#$%&'*+-.^_`|~";

function methodProblem(method: unknown): string | undefined {
  if (typeof method !== 'string' || method.length === 0) return 'the method must be a non-empty string ("GET", "*"...)';
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!alnum && !METHOD_CHARS.includes(method[i]!)) return `the method ${JSON.stringify(method)} is not an HTTP method or "*"`;
  }
  return undefined;
}

/** The compiled pattern, or why it is refused. */
function compilePattern(path: unknown): { segments: Segment[]; rest: boolean; hasId: boolean } | string {
  if (typeof path !== 'string' || path.charCodeAt(0) !== 0x2f) return 'the path pattern must start with "/"';
  const segments: Segment[] = [];
  if (path === '/') return { segments, rest: false, hasId: false };
  const parts = path.slice(1).split('/');
  let rest = false;
  let hasId = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '**') {
      if (i !== parts.length - 1) return '"**" is only allowed as the last segment';
      rest = true;
    } else if (part === '*') {
      segments.push({ kind: 'one' });
    } else if (part === '{id}') {
      if (hasId) return '"{id}" may appear only once';
      hasId = true;
      segments.push({ kind: 'id' });
    } else if (part === '') {
      return 'the path pattern has an empty segment ("//" or a trailing "/")';
    } else if (part === '.' || part === '..') {
      return `the path pattern has a "${part}" segment`;
    } else if (part.includes('{') || part.includes('}')) {
      return `segment ${JSON.stringify(part)}: "{id}" is the only placeholder, and it must be a whole segment`;
    } else if (part.includes('*')) {
      return `segment ${JSON.stringify(part)}: "*" and "**" must be whole segments`;
    } else {
      for (let j = 0; j < part.length; j++) {
        if (!isLiteralChar(part.charCodeAt(j))) {
          return `segment ${JSON.stringify(part)}: ${JSON.stringify(part[j])} is not allowed (write literals unencoded, without "%", ";", "?" or "#")`;
        }
      }
      segments.push({ kind: 'literal', text: part, key: foldSegment(part) });
    }
  }
  return { segments, rest, hasId };
}

type Pattern = Exclude<ReturnType<typeof compilePattern>, string>;

/** The compiled pattern of `rule`, or why the rule is refused. */
function checkRule(rule: ApiRule): Pattern | string {
  const method = methodProblem(rule.method);
  if (method !== undefined) return method;
  const pattern = compilePattern(rule.path);
  if (typeof pattern === 'string') return pattern;
  if (typeof rule.role !== 'string' || !isRole(rule.role)) return `the role must be one of: ${ROLES.join(', ')}`;
  if (!(SCOPE_RULES as readonly string[]).includes(rule.scope)) return `the scope must be one of: ${SCOPE_RULES.join(', ')}`;
  if ((rule.scope === 'job' || rule.scope === 'relabel-job') && !pattern.hasId) {
    return `the scope "${rule.scope}" needs a "{id}" segment in the path pattern`;
  }
  return pattern;
}

/** Why `rule` cannot be compiled, or undefined. Checks untyped input (from a config file) too. */
export function apiRuleProblem(rule: ApiRule): string | undefined {
  const checked = checkRule(rule);
  return typeof checked === 'string' ? checked : undefined;
}

function describe(rule: ApiRule, index: number): string {
  return `API rule ${index + 1} (${String(rule.method)} ${String(rule.path)})`;
}

function compileRule(rule: ApiRule, index: number): CompiledRule {
  const pattern = checkRule(rule);
  if (typeof pattern === 'string') throw new Error(`${describe(rule, index)}: ${pattern}`);
  const method = rule.method === '*' ? '*' : rule.method.toUpperCase();
  const frozen: ApiRule = Object.freeze({ method, path: rule.path, role: rule.role, scope: rule.scope });
  return { rule: frozen, segments: pattern.segments, rest: pattern.rest, hasId: pattern.hasId };
}

/** A request path split into segments, as sent and percent-decoded (the same array when nothing is encoded). */
interface PathSegments {
  readonly raw: readonly string[];
  readonly decoded: readonly string[];
}

/** The segments of a path, or undefined when one does not decode. */
function pathSegments(path: string): PathSegments | undefined {
  if (path.charCodeAt(0) !== 0x2f) return undefined;
  if (path.length === 1) return { raw: [], decoded: [] };
  const raw = path.slice(1).split('/');
  let decoded: string[] = raw;
  for (let i = 0; i < raw.length; i++) {
    const segment = raw[i]!;
    if (!segment.includes('%')) continue;
    if (decoded === raw) decoded = raw.slice();
    try {
      decoded[i] = decodeURIComponent(segment);
    } catch {
      return undefined;
    }
  }
  return { raw, decoded };
}

/** How a path matched a pattern: the captured `{id}` ('' when none), and whether a literal was spelled in a variant. */
interface SegmentsMatch {
  readonly id: string;
  readonly variant: boolean;
}

const EXACT_WITHOUT_ID: SegmentsMatch = Object.freeze({ id: '', variant: false });

/**
 * How `path` matches the pattern, or undefined. `exact`: literals match only byte for byte;
 * otherwise also in any spelling `readsAsLiteral` accepts (then `variant` says one did).
 */
function matchSegments(compiled: CompiledRule, path: PathSegments, exact: boolean): SegmentsMatch | undefined {
  const pattern = compiled.segments;
  const { raw, decoded } = path;
  if (compiled.rest ? raw.length < pattern.length : raw.length !== pattern.length) return undefined;
  let id = '';
  let variant = false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = decoded[i]!;
    if (p.kind === 'literal') {
      if (raw[i] === p.text) continue;
      if (exact || !readsAsLiteral(s, p.key)) return undefined;
      variant = true;
    } else {
      if (s === '') return undefined;
      if (p.kind === 'id') id = s;
    }
  }
  return id === '' && !variant ? EXACT_WITHOUT_ID : { id, variant };
}

function toMatch(compiled: CompiledRule, id: string): ApiMatch {
  return compiled.hasId ? { rule: compiled.rule, jobId: id } : { rule: compiled.rule };
}

/** The scopes that refuse every scoped token, strongest first. */
const DENYING_SCOPES: readonly ScopeRule[] = ['unscoped-only', 'deny-scoped'];

/**
 * A decision at least as strict as both `a` and `b` (undefined: {@link UNKNOWN_PATH_RULE}), for
 * a request that an upstream could route either way. The role is `read` only if both are;
 * for a scoped token: a denying scope wins, `any` yields to the other, equal scopes about the
 * same job stay, `relabel-job` wins over `job` on the same job (it checks the job, then the
 * body), and anything else cannot be checked both ways at once: denied (`deny-scoped`).
 */
export function stricterMatch(a: ApiMatch | undefined, b: ApiMatch | undefined): ApiMatch | undefined {
  const ruleA = a?.rule ?? UNKNOWN_PATH_RULE;
  const ruleB = b?.rule ?? UNKNOWN_PATH_RULE;
  if (a === b || (ruleA === ruleB && a?.jobId === b?.jobId)) return a;
  let from: ApiMatch | undefined;
  const denying = DENYING_SCOPES.find((scope) => ruleA.scope === scope || ruleB.scope === scope);
  if (denying !== undefined) from = ruleA.scope === denying ? a : b;
  else if (ruleA.scope === 'any') from = b;
  else if (ruleB.scope === 'any') from = a;
  else if (a?.jobId !== b?.jobId) from = undefined;
  else if (ruleA.scope === ruleB.scope) from = a;
  else if (ruleA.scope === 'relabel-job' && ruleB.scope === 'job') from = a;
  else if (ruleB.scope === 'relabel-job' && ruleA.scope === 'job') from = b;
  else from = undefined;
  const role: Role = ruleA.role === 'read' && ruleB.role === 'read' ? 'read' : 'operator';
  const rule = from?.rule ?? UNKNOWN_PATH_RULE;
  if (rule.role === role) return from;
  const stricter: ApiRule = Object.freeze({ method: rule.method, path: rule.path, role, scope: rule.scope });
  return from?.jobId === undefined ? { rule: stricter } : { rule: stricter, jobId: from.jobId };
}

/**
 * Compiles `rules` exactly as given (first match wins). Throws an Error naming the first bad
 * rule (1-based position, method and pattern) and what is wrong with it. Use
 * {@link buildApiPolicy} for the table a server enforces.
 */
export function compileApiRules(rules: readonly ApiRule[]): CompiledApiPolicy {
  const compiled = rules.map(compileRule);
  // Every method a rule names, and undefined for the methods none names (only '*' rules match them).
  const methods: Array<string | undefined> = [...new Set(compiled.map((c) => c.rule.method).filter((m) => m !== '*')), undefined];

  const matchSegmentsFor = (method: string | undefined, path: PathSegments): ApiMatch | undefined => {
    for (let i = 0; i < compiled.length; i++) {
      const c = compiled[i]!;
      if (c.rule.method !== '*' && c.rule.method !== method) continue;
      const lenient = matchSegments(c, path, false);
      if (lenient === undefined) continue;
      if (!lenient.variant) return toMatch(c, lenient.id);
      // Rules before this one did not match leniently, so not byte for byte either.
      let exact: ApiMatch | undefined;
      for (let j = i + 1; j < compiled.length && exact === undefined; j++) {
        const e = compiled[j]!;
        if (e.rule.method !== '*' && e.rule.method !== method) continue;
        const found = matchSegments(e, path, true);
        if (found !== undefined) exact = toMatch(e, found.id);
      }
      return stricterMatch(toMatch(c, lenient.id), exact);
    }
    return undefined;
  };

  return Object.freeze({
    rules: Object.freeze(compiled.map((c) => c.rule)),
    match(method: string, path: string): ApiMatch | undefined {
      const segments = pathSegments(path);
      if (segments === undefined) return undefined;
      const match = matchSegmentsFor(method, segments);
      return method === 'HEAD' ? stricterMatch(match, matchSegmentsFor('GET', segments)) : match;
    },
    matchAnyMethod(path: string): ApiMatch | undefined {
      const segments = pathSegments(path);
      if (segments === undefined) return undefined;
      let strictest = matchSegmentsFor(methods[0], segments);
      for (let i = 1; i < methods.length; i++) strictest = stricterMatch(strictest, matchSegmentsFor(methods[i], segments));
      return strictest;
    },
  });
}

/**
 * The table a server enforces: {@link TOKEN_MANAGEMENT_RULE} first (it cannot be overridden),
 * then the configured rules (which can add paths or tighten defaults, first match wins), then
 * the rest of {@link DEFAULT_API_RULES}. Paths matching none follow {@link UNKNOWN_PATH_RULE}.
 * Throws like {@link compileApiRules}, numbering the configured rules from 1.
 */
export function buildApiPolicy(configured: readonly ApiRule[] = []): CompiledApiPolicy {
  configured.forEach((rule, index) => {
    const problem = apiRuleProblem(rule);
    if (problem !== undefined) throw new Error(`${describe(rule, index)}: ${problem}`);
  });
  return compileApiRules([TOKEN_MANAGEMENT_RULE, ...configured, ...DEFAULT_API_RULES.filter((rule) => rule !== TOKEN_MANAGEMENT_RULE)]);
}

/** One rule in the config file (YAML or JSON): `{method, path, role, scope}`, nothing else. */
export const apiRuleSchema = z.strictObject({
  method: z.string().check(z.minLength(1)),
  path: z.string().check(z.minLength(1)),
  role: z.enum(ROLES),
  scope: z.enum(SCOPE_RULES),
});

/**
 * The config-file form of the table: an array of {@link apiRuleSchema}, each pattern checked as
 * {@link compileApiRules} would (an issue at the rule's index names the problem).
 */
export const apiRulesSchema = z.array(apiRuleSchema).check(
  z.superRefine((rules, ctx) => {
    rules.forEach((rule, index) => {
      const problem = apiRuleProblem(rule);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [index], message: problem });
    });
  }),
);
