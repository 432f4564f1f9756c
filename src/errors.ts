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

/**
 * A listener whose address another process holds. Not bad input (the same setting works once the
 * port is free): exit code 1. The message names the setting, so that it says what to change.
 */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(
    readonly setting: string,
    readonly address: string,
  ) {
    super(`${setting} ${address} is in use; stop what listens there or set ${setting} to another host:port`);
  }
}
