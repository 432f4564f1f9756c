/**
 * Properties of what the CLI prints (src/cli/output.ts, src/cli/terminal.ts): whatever strings
 * a record holds, the YAML and JSON documents contain no character a terminal acts on or hides,
 * and parse back to exactly those strings; a message quoting them stays one visible line.
 */
import fc from 'fast-check';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { render } from '../../src/cli/output.js';
import { terminalLine, terminalLines } from '../../src/cli/terminal.js';
import { hiddenCharacters } from '../helpers/cli.js';
import { check } from '../helpers/property.js';

/** The hidden characters in `text` (other than line breaks, when `allowNewline`). */
function hiddenIn(text: string, allowNewline: boolean): string[] {
  const found = hiddenCharacters(text);
  return allowNewline || !text.includes('\n') ? found : [...found, 'U+A'];
}

/** `text` as code points (U+1B U+5B...): a test name with the raw characters would garble TAP's output. */
const codePoints = (text: string): string => [...text].map((c) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase()}`).join(' ');

const HIDDEN_SAMPLES = [
  '\0',
  '\x07',
  '\b',
  '\t',
  '\n',
  '\v',
  '\f',
  '\r',
  '\x1b',
  '\x1b[2J',
  '\x1b]0;title\x07',
  '\x7f',
  '\x80',
  '\x85',
  '\x9b',
  '\x9d',
  '\x9f',
  '\u00ad',
  '\u061c',
  '\u200b',
  '\u200d',
  '\u200e',
  '\u200f',
  '\u2028',
  '\u2029',
  '\u202a',
  '\u202b',
  '\u202c',
  '\u202d',
  '\u202e',
  '\u2066',
  '\u2067',
  '\u2068',
  '\u2069',
  '\ufeff',
  '\u{e0001}',
  '\u{e0041}',
  '\ud800',
  '\udfff',
];
/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
/** Strings mostly made of what a hostile record would hold: escapes, controls, bidi, YAML syntax. */
const hostileString = fc
  .array(
    fc.oneof(
      fc.constantFrom(...HIDDEN_SAMPLES),
      fc.constantFrom('a', ' ', '"', "'", '\\', ':', '- ', '#', '---', '...', '{', '}', '[', '&', '*', '!', '|', '>', '%', '@', '`', 'é', '😀'),
      codeUnit,
    ),
    {
      maxLength: 24,
    },
  )
  .map((parts) => parts.join(''));
const anyString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: codeUnit }), hostileString);

/** Documents shaped like what the CLI prints: maps of strings (hostile keys too), arrays, numbers, booleans. */
const printedDocument = fc.oneof(
  anyString,
  fc.array(anyString, { maxLength: 4 }),
  fc.dictionary(anyString, fc.oneof(anyString, fc.integer(), fc.boolean(), fc.dictionary(anyString, anyString, { maxKeys: 3 })), { maxKeys: 4 }),
  fc.array(fc.record({ id: anyString, spec: fc.record({ name: anyString, labels: fc.dictionary(anyString, anyString, { maxKeys: 3 }) }) }), { maxLength: 3 }),
);

t.test('JSON output: no hidden character outside line breaks, and it parses back to the same document', async (t) => {
  check(
    fc.property(printedDocument, (document) => {
      const text = render(document, 'json');
      const hidden = hiddenIn(text, true);
      if (hidden.length > 0) throw new Error(`raw ${hidden.join(' ')} in ${JSON.stringify(text)}`);
      const parsed: unknown = JSON.parse(text);
      if (JSON.stringify(parsed) !== JSON.stringify(document)) throw new Error(`${JSON.stringify(text)} parses back to ${JSON.stringify(parsed)}`);
      return true;
    }),
  );
  t.end();
});

t.test('YAML output: no hidden character outside line breaks, and it parses back to the same document', async (t) => {
  check(
    fc.property(printedDocument, (document) => {
      const text = render(document, 'yaml');
      const hidden = hiddenIn(text, true);
      if (hidden.length > 0) throw new Error(`raw ${hidden.join(' ')} in ${JSON.stringify(text)}`);
      const parsed: unknown = parseYaml(text);
      if (JSON.stringify(parsed) !== JSON.stringify(document)) throw new Error(`${JSON.stringify(text)} parses back to ${JSON.stringify(parsed)}`);
      return true;
    }),
  );
  t.end();
});

t.test('a string that holds a hidden character is printed double-quoted, on one line, in YAML', async (t) => {
  for (const sample of HIDDEN_SAMPLES) {
    const text = render({ name: `a${sample}b` }, 'yaml');
    t.match(text, /^name: "[^\n]*"\n$/, `${codePoints(sample)}: one double-quoted line`);
  }
});

t.test('a message line: one line, no hidden character, and text without them is unchanged', async (t) => {
  check(
    fc.property(anyString, (text) => {
      const line = terminalLine(text);
      const hidden = hiddenIn(line, false);
      if (hidden.length > 0) throw new Error(`raw ${hidden.join(' ')} in ${JSON.stringify(line)}`);
      if (hiddenIn(text, false).length === 0 && line !== text) throw new Error(`${JSON.stringify(text)} was changed to ${JSON.stringify(line)}`);
      // Every escape is one a JSON string would use, so a quoted value reads back exactly.
      if (!text.includes('\\') && !text.includes('"') && JSON.parse(`"${line}"`) !== text)
        throw new Error(`${JSON.stringify(line)} does not read back as ${JSON.stringify(text)}`);
      return true;
    }),
  );
  t.end();
});

t.test('several lines: the line breaks stay, every other hidden character is escaped', async (t) => {
  check(
    fc.property(fc.array(anyString, { maxLength: 4 }), (lines) => {
      const text = lines.map((line) => line.replaceAll('\n', '')).join('\n');
      const escaped = terminalLines(text);
      const hidden = hiddenIn(escaped, true);
      if (hidden.length > 0) throw new Error(`raw ${hidden.join(' ')} in ${JSON.stringify(escaped)}`);
      if (escaped.split('\n').length !== text.split('\n').length) throw new Error(`${JSON.stringify(text)}: the number of lines changed`);
      return true;
    }),
  );
  t.end();
});

t.test('examples: what a terminal would have acted on is shown as an escape', async (t) => {
  t.equal(terminalLine('role "\x1b[2K\rjobgate: ok\n"'), 'role "\\u001b[2K\\rjobgate: ok\\n"');
  t.equal(terminalLine('evil\u202Etxt.exe\u2066'), 'evil\\u202etxt.exe\\u2066');
  t.equal(terminalLine('\x9b31m\x85'), '\\u009b31m\\u0085');
  t.equal(terminalLine('tag\u{e0041}'), 'tag\\udb40\\udc41');
  t.equal(terminalLine('plain text, é and 😀'), 'plain text, é and 😀');
  t.equal(terminalLines('one\x1b[A\ntwo\r\n'), 'one\\u001b[A\ntwo\\r\n');
});
