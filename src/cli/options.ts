/** Options that several commands share, and required options checked after unknown ones. */
import { Option, type Command } from 'commander';
import { InputError } from '../errors.js';
import { DOCUMENT_FORMATS, LIST_FORMATS } from './output-format.js';

/** `-o yaml|json`: for the commands whose document a script reads (create, renew, put). */
export const documentOutputOption = (): Option => new Option('-o, --output <format>', 'output format').choices(DOCUMENT_FORMATS).default('yaml');

/** `-o yaml|json|table`: for list and get, which people read too. */
export const listOutputOption = (): Option =>
  new Option('-o, --output <format>', 'output format (table: aligned columns for people)').choices(LIST_FORMATS).default('yaml');

const REQUIRED = new WeakSet<Option>();

/**
 * `option`, marked as one that must be given. Commander checks its own mandatory options before
 * unknown ones, so a mistyped `--rol read` would be told that --role is missing; these are checked
 * by checkRequiredOptions instead, once commander has reported an unknown option (with its
 * "Did you mean --role?") and a missing argument.
 */
export function requiredOption(option: Option): Option {
  REQUIRED.add(option);
  return option;
}

/** Throws InputError, in commander's words, when `command` lacks one of its required options. */
export function checkRequiredOptions(command: Command): void {
  for (const option of command.options) {
    if (REQUIRED.has(option) && command.getOptionValue(option.attributeName()) === undefined) {
      throw new InputError(`required option '${option.flags}' not specified`);
    }
  }
}
