import { Document, Scalar, visit } from 'yaml';
import type { DocumentFormat } from './output-format.js';
import { escapeInvisibleExceptNewline, INVISIBLE, jsonEscape } from './terminal.js';

/**
 * Renders a document as YAML (the default) or as one JSON document that jq can read. A string
 * holding a character a terminal does not show as itself (see INVISIBLE) is printed escaped, so
 * that a hostile record cannot rewrite the terminal, and the output still parses back to it.
 */
export function render(document: unknown, format: DocumentFormat): string {
  return format === 'json' ? renderJson(document) : renderYaml(document);
}

/** One document as one line of JSON (JSON Lines, for a stream such as `events --follow -o json`), escaped as {@link render} does. */
export function renderJsonLine(document: unknown): string {
  return `${escapeInvisibleExceptNewline(JSON.stringify(document), jsonEscape)}\n`;
}

function renderJson(document: unknown): string {
  // JSON.stringify escapes C0 controls and lone surrogates but leaves DEL, C1 and format
  // characters raw. Outside strings it writes only ASCII, so each one left is inside a string,
  // where \uXXXX means the same character.
  return `${escapeInvisibleExceptNewline(JSON.stringify(document, null, 2), jsonEscape)}\n`;
}

/** The YAML escape of one character (a double-quoted scalar's \u or \U). */
function yamlEscape(character: string): string {
  const code = character.codePointAt(0) ?? 0;
  return code > 0xffff ? `\\U${code.toString(16).padStart(8, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

function renderYaml(document: unknown): string {
  const yaml = new Document(document);
  // Every string, key or value, that holds an invisible character (or a line break) is written
  // double-quoted: the yaml package then escapes C0 controls and lone surrogates, and writes the
  // rest raw, but only inside double quotes, where \u and \U mean the same character.
  visit(yaml, {
    Scalar(_key, node) {
      if (typeof node.value === 'string' && INVISIBLE.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  // No folding: one scalar stays on one line.
  const text = yaml.toString({ lineWidth: 0, doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER });
  return escapeInvisibleExceptNewline(text, yamlEscape);
}
