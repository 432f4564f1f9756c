/**
 * A reference model of label selectors for the property tests: generated selectors as plain
 * data (what the text means), their text (in many equivalent spellings), and a direct reading of
 * what they match. It shares no code with src/selector.
 */
import fc from 'fast-check';

export type ModelRequirement =
  | { readonly op: 'eq' | 'neq'; readonly key: string; readonly value: string; readonly spelling: '=' | '==' | '!=' }
  | { readonly op: 'in' | 'notin'; readonly key: string; readonly entries: readonly string[] }
  | { readonly op: 'exists' | 'notexists'; readonly key: string }
  | { readonly op: 'gt' | 'lt'; readonly key: string; readonly bound: string };

/** Labels as a plain record, the way a reader would write them. */
export type ModelLabels = Readonly<Record<string, string>>;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** What Go's strconv.ParseInt(text, 10, 64) returns, or undefined when it fails. */
export function parseInt64(text: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

/** The requirement read literally, over a label record. */
export function modelRequirementMatches(r: ModelRequirement, labels: ModelLabels): boolean {
  const present = Object.hasOwn(labels, r.key);
  const value = present ? labels[r.key] : undefined;
  switch (r.op) {
    case 'eq':
      return present && value === r.value;
    case 'neq':
      return !present || value !== r.value;
    case 'in':
      return present && r.entries.includes(value!);
    case 'notin':
      return !present || !r.entries.includes(value!);
    case 'exists':
      return present;
    case 'notexists':
      return !present;
    case 'gt':
    case 'lt': {
      if (!present) return false;
      const n = parseInt64(value!);
      if (n === undefined) return false;
      return r.op === 'gt' ? n > BigInt(r.bound) : n < BigInt(r.bound);
    }
  }
}

/** Every requirement holds (the empty selector matches everything). */
export function modelMatches(requirements: readonly ModelRequirement[], labels: ModelLabels): boolean {
  return requirements.every((r) => modelRequirementMatches(r, labels));
}

const alnum = fc.constantFrom(...'abcxyzABZ0189'.split(''));
const middle = fc.constantFrom(...'abz09AZ-_.'.split(''));

/** A label name: 1 to 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends. */
const labelName = fc
  .tuple(alnum, fc.array(middle, { maxLength: 61 }), alnum, fc.boolean())
  .map(([first, inner, last, single]) => (single ? first : first + inner.join('') + last));

const dnsLabel = fc
  .tuple(fc.constantFrom(...'abz09'.split('')), fc.array(fc.constantFrom(...'abz09-'.split('')), { maxLength: 10 }), fc.constantFrom(...'abz09'.split('')))
  .map(([first, inner, last]) => first + inner.join('') + last);

/** A label key: an optional DNS subdomain prefix and '/', then a name. */
export const labelKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'x', 'team', 'in', 'notin', 'app.kubernetes.io/name', 'jobgate/id', 'k-1', 'A_b.c') },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.option(fc.array(dnsLabel, { minLength: 1, maxLength: 3 }), { nil: undefined }), labelName)
      .map(([prefix, name]) => (prefix ? `${prefix.join('.')}/${name}` : name)),
  },
);

/** A label value: empty, or a label name. */
export const labelValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('', 'a', 'b', 'in', 'notin', '0', '1', '007', '42', '9223372036854775807') },
  { weight: 1, arbitrary: labelName },
);

/** A `>` / `<` bound: digits (leading zeros allowed) of a value from 0 to 2^63-1. */
const integerBound = fc
  .tuple(fc.oneof(fc.bigInt(0n, 100n), fc.bigInt(0n, INT64_MAX)), fc.nat({ max: 2 }))
  .map(([n, zeros]) => '0'.repeat(zeros) + n.toString());

export const modelRequirement: fc.Arbitrary<ModelRequirement> = fc.oneof(
  fc.record({ op: fc.constant('eq' as const), key: labelKey, value: labelValue, spelling: fc.constantFrom('=' as const, '==' as const) }),
  fc.record({ op: fc.constant('neq' as const), key: labelKey, value: labelValue, spelling: fc.constant('!=' as const) }),
  // Entries as written: duplicates and empty entries included.
  fc.record({ op: fc.constantFrom('in' as const, 'notin' as const), key: labelKey, entries: fc.array(labelValue, { minLength: 1, maxLength: 5 }) }),
  fc.record({ op: fc.constantFrom('exists' as const, 'notexists' as const), key: labelKey }),
  fc.record({ op: fc.constantFrom('gt' as const, 'lt' as const), key: labelKey, bound: integerBound }),
);

export const modelSelector: fc.Arbitrary<ModelRequirement[]> = fc.array(modelRequirement, { maxLength: 6 });

/** Spacing Kubernetes skips: nothing, or up to three of ' ', '\t', '\r', '\n'. */
const space = fc.array(fc.constantFrom(' ', '\t', '\r', '\n'), { maxLength: 3 }).map((s) => s.join(''));
const someSpace = fc.array(fc.constantFrom(' ', '\t', '\r', '\n'), { minLength: 1, maxLength: 3 }).map((s) => s.join(''));

/** One requirement as text, spaced at random. */
function requirementText(r: ModelRequirement): fc.Arbitrary<string> {
  switch (r.op) {
    case 'eq':
    case 'neq':
      return fc.tuple(space, space).map(([a, b]) => `${r.key}${a}${r.spelling}${b}${r.value}`);
    case 'in':
    case 'notin':
      return fc
        .tuple(someSpace, space, fc.array(fc.tuple(space, space), { minLength: r.entries.length, maxLength: r.entries.length }), space)
        .map(([a, b, around, c]) => `${r.key}${a}${r.op}${b}(${r.entries.map((e, i) => `${around[i]![0]}${e}${around[i]![1]}`).join(',')}${c})`);
    case 'exists':
      return fc.constant(r.key);
    case 'notexists':
      return space.map((a) => `!${a}${r.key}`);
    case 'gt':
    case 'lt':
      return fc.tuple(space, space).map(([a, b]) => `${r.key}${a}${r.op === 'gt' ? '>' : '<'}${b}${r.bound}`);
  }
}

/** A selector as plain data and one of its spellings. */
export interface SpelledSelector {
  readonly requirements: ModelRequirement[];
  readonly text: string;
}

/** Generated selectors (from `selectors`), each with one of its spellings. */
export function spelled(selectors: fc.Arbitrary<ModelRequirement[]>): fc.Arbitrary<SpelledSelector> {
  return selectors.chain((requirements) =>
    fc
      .tuple(
        fc.tuple(...requirements.map(requirementText)),
        fc.array(fc.tuple(space, space), { minLength: requirements.length, maxLength: requirements.length }),
        space,
        space,
      )
      .map(([texts, separators, lead, trail]) => ({
        requirements,
        text: lead + texts.map((text, i) => (i === 0 ? text : `${separators[i]![0]},${separators[i]![1]}${text}`)).join('') + trail,
      })),
  );
}

/** A generated selector of up to six requirements, with one of its spellings. */
export const spelledSelector: fc.Arbitrary<SpelledSelector> = spelled(modelSelector);

/** Labels over the same keys as the generated selectors, with values that hit them (and integers in every form). */
export const modelLabels: fc.Arbitrary<Record<string, string>> = fc
  .array(
    fc.tuple(
      labelKey,
      fc.oneof(
        { weight: 4, arbitrary: labelValue },
        {
          weight: 2,
          arbitrary: fc.constantFrom('-5', '+3', '-0', '+0', '00', '-9223372036854775808', '-9223372036854775809', '9223372036854775808', '1_0', ' 1', '0x1'),
        },
        { weight: 1, arbitrary: fc.bigInt(INT64_MIN, INT64_MAX).map(String) },
        { weight: 1, arbitrary: fc.string() },
      ),
    ),
    { maxLength: 6 },
  )
  .map((entries) => Object.fromEntries(entries));
