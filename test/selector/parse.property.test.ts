/**
 * Properties of the selector parser: it never throws anything but SelectorError, whatever the
 * text; what it reads agrees with a reference model (test/selector/model.ts) of what the text
 * means; and its string form reads back as the same selector.
 */
import fc from 'fast-check';
import t from 'tap';
import { labelKeyProblem, labelValueProblem } from '../../src/selector/labels.js';
import { matches } from '../../src/selector/match.js';
import { formatSelector, MAX_SELECTOR_LENGTH, parseSelector, SelectorError, type Selector } from '../../src/selector/parse.js';
import { check } from '../helpers/property.js';
import { modelLabels, modelMatches, spelledSelector } from './model.js';

/** The outcome of parsing: the selector, or the SelectorError. Anything else thrown fails the property. */
function parseOutcome(text: string): Selector | SelectorError {
  try {
    return parseSelector(text);
  } catch (error) {
    if (error instanceof SelectorError) return error;
    throw new Error(`parseSelector(${JSON.stringify(text)}) threw something else than a SelectorError: ${String(error)}`);
  }
}

/** A parsed selector is well-formed: valid keys and values, integer bounds; an error has a position inside the text. */
function assertSound(text: string, outcome: Selector | SelectorError): void {
  if (outcome instanceof SelectorError) {
    if (!Number.isInteger(outcome.position) || outcome.position < 0 || outcome.position > text.length) {
      throw new Error(`position ${outcome.position} is outside ${JSON.stringify(text)}`);
    }
    if (outcome.message.length === 0) throw new Error('empty message');
    return;
  }
  for (const r of outcome.requirements) {
    if (labelKeyProblem(r.key) !== undefined) throw new Error(`invalid key ${JSON.stringify(r.key)} from ${JSON.stringify(text)}`);
    const values = 'values' in r ? r.values : 'value' in r ? [r.value] : [];
    for (const v of values) if (labelValueProblem(v) !== undefined) throw new Error(`invalid value ${JSON.stringify(v)}`);
    if ((r.op === 'gt' || r.op === 'lt') && !/^[0-9]+$/.test(r.value)) throw new Error(`bound ${r.value} is not an integer`);
  }
  // Whatever parses also reads back from its string form.
  const again = parseSelector(formatSelector(outcome));
  if (JSON.stringify(again.requirements) !== JSON.stringify(outcome.requirements)) {
    throw new Error(`${JSON.stringify(text)} does not read back from ${JSON.stringify(formatSelector(outcome))}`);
  }
}

const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Pieces of selector text, valid and not, so that random text gets deep into the grammar. */
const selectorPiece = fc.constantFrom(
  'a',
  'b',
  'x',
  'in',
  'notin',
  ' in ',
  ' notin ',
  '(',
  ')',
  ',',
  '!',
  '=',
  '==',
  '!=',
  '>',
  '<',
  ' ',
  '\t',
  '\n',
  '\r',
  '1',
  '007',
  '-',
  '_',
  '.',
  '/',
  'a.b/c',
  'é',
  '\0',
  '\u2028',
  '\ud800',
  '||',
  '~',
  '99999999999999999999',
);
const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: codeUnit }),
  fc.array(selectorPiece, { maxLength: 30 }).map((pieces) => pieces.join('')),
);

t.test('any text: a selector or a SelectorError, never anything else', async (t) => {
  await check(
    fc.property(anyText, (text) => {
      assertSound(text, parseOutcome(text));
    }),
    2000,
  );
  t.pass();
});

t.test('text near and past the size bound', async (t) => {
  const long = fc
    .tuple(
      fc.oneof(
        fc.array(selectorPiece, { minLength: 1, maxLength: 8 }).map((p) => p.join('')),
        fc.string({ unit: codeUnit, minLength: 1, maxLength: 8 }),
      ),
      fc.integer({ min: MAX_SELECTOR_LENGTH - 64, max: MAX_SELECTOR_LENGTH + 64 }),
    )
    .map(([fragment, length]) => fragment.repeat(Math.ceil(length / fragment.length)).slice(0, length));
  await check(
    fc.property(long, (text) => {
      const outcome = parseOutcome(text);
      assertSound(text, outcome);
      if (text.length > MAX_SELECTOR_LENGTH && !(outcome instanceof SelectorError)) throw new Error('text past the bound was accepted');
    }),
    100,
  );
  t.pass();
});

t.test('generated selectors parse and match exactly what the reference model matches', async (t) => {
  await check(
    fc.property(spelledSelector, fc.array(modelLabels, { minLength: 1, maxLength: 8 }), ({ requirements, text }, labelSets) => {
      const selector = parseSelector(text);
      if (selector.empty !== (requirements.length === 0)) throw new Error(`empty is ${selector.empty} for ${JSON.stringify(text)}`);
      for (const labels of labelSets) {
        const expected = modelMatches(requirements, labels);
        if (matches(selector, new Map(Object.entries(labels))) !== expected) {
          throw new Error(`${JSON.stringify(text)} on ${JSON.stringify(labels)}: the model says ${expected}`);
        }
      }
    }),
    1000,
  );
  t.pass();
});

t.test('round trip: parse, string form, parse gives an equivalent selector', async (t) => {
  await check(
    fc.property(spelledSelector, fc.array(modelLabels, { minLength: 1, maxLength: 8 }), ({ text }, labelSets) => {
      const first = parseSelector(text);
      const formatted = formatSelector(first);
      const second = parseSelector(formatted);
      if (formatSelector(second) !== formatted) throw new Error(`${JSON.stringify(formatted)} is not a fixed point`);
      for (const labels of labelSets) {
        const map = new Map(Object.entries(labels));
        if (matches(first, map) !== matches(second, map)) {
          throw new Error(`${JSON.stringify(text)} and its string form ${JSON.stringify(formatted)} disagree on ${JSON.stringify(labels)}`);
        }
      }
    }),
    1000,
  );
  t.pass();
});
