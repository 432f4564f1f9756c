/** The output formats of the admin commands, apart from output.ts so that defining a command does not load the YAML library. */
export type OutputFormat = 'yaml' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['yaml', 'json'];
