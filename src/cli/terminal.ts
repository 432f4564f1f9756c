/**
 * Characters a terminal does not show as themselves: C0 controls (CR, ESC, BEL, backspace...),
 * DEL, C1 controls (U+0080-U+009F, which some terminals read as CSI and OSC), format characters
 * (bidi overrides and isolates, zero-width characters, BOM, tag characters), the line and
 * paragraph separators, and lone surrogates. Printed raw, a value read from Redis could move the
 * cursor, rewrite or hide lines, or reorder what the terminal shows.
 */
export const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const EVERY_INVISIBLE = new RegExp(INVISIBLE.source, 'gu');
const INVISIBLE_EXCEPT_NEWLINE = new RegExp(`(?!\\n)${INVISIBLE.source}`, 'gu');

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

/** The escape a JSON string would use: `\n`, `\t`... or `\uXXXX` per UTF-16 unit (a pair for astral characters). */
export function jsonEscape(character: string): string {
  const short = SHORT_ESCAPES[character];
  if (short !== undefined) return short;
  let escaped = '';
  for (let i = 0; i < character.length; i++) escaped += `\\u${character.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return escaped;
}

/**
 * `text` as one line that a terminal shows as it is: every invisible character, newline
 * included, is written as its JSON escape. For a message that quotes a record or user input.
 */
export function terminalLine(text: string): string {
  return text.replace(EVERY_INVISIBLE, jsonEscape);
}

/** Like terminalLine, but keeps the line breaks: for text that is several lines on purpose. */
export function terminalLines(text: string): string {
  return text.replace(INVISIBLE_EXCEPT_NEWLINE, jsonEscape);
}

/** Replaces every invisible character but newline in `text` with `escape(character)`. */
export function escapeInvisibleExceptNewline(text: string, escape: (character: string) => string): string {
  return text.replace(INVISIBLE_EXCEPT_NEWLINE, escape);
}
