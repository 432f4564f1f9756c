/** The output formats of the admin commands, apart from output.ts so that defining a command does not load the YAML library. */

/** A document: YAML (the default) or one JSON document for jq. What create, renew and put print, since scripts read their values. */
export type DocumentFormat = 'yaml' | 'json';
export const DOCUMENT_FORMATS: readonly DocumentFormat[] = ['yaml', 'json'];

/** What list and get print: a document, or an aligned table for people. */
export type ListFormat = DocumentFormat | 'table';
export const LIST_FORMATS: readonly ListFormat[] = ['yaml', 'json', 'table'];
