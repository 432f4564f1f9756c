/**
 * Every error that jobgate reports to a person is one of these, so that the CLI and
 * the HTTP server can each turn them into one consistent shape.
 */

/** Bad input from a person or a script (CLI argument, setting, request): exit code 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** A record read from Redis that does not have the documented shape: always treated as "deny". */
export class RecordError extends Error {
  override readonly name = 'RecordError';
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`malformed record ${key}: ${reason}`);
  }
}

/** A token or job that does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** Redis did not answer in time, or refused the command. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}
