import { stringify } from 'yaml';

export type OutputFormat = 'yaml' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['yaml', 'json'];

/** Renders a document as YAML (the default) or as one JSON document that jq can read. */
export function render(document: unknown, format: OutputFormat): string {
  return format === 'json' ? `${JSON.stringify(document, null, 2)}\n` : stringify(document, { lineWidth: 0 });
}
