import type { RecordError } from '../errors.js';
import type { Answer } from '../http/answers.js';
import type { AccessDecision } from './decision.js';

/** What may come with a denial: whom it is about, and what the answer must also do. */
export interface DenialDetails {
  readonly jobId?: string | undefined;
  readonly tokenId?: string | undefined;
  /** A record that could not be read: logged with its key. */
  readonly recordError?: RecordError | undefined;
  /** A session cookie that no longer holds: the answer clears it. */
  readonly staleSession?: boolean | undefined;
  /** The session held, but its token was renewed or deleted since: the login page says so. */
  readonly tokenChanged?: boolean | undefined;
}

/**
 * Why a request does not pass, and the answer to give. Every step of the gate returns its
 * result or a Denial; callers tell them apart with {@link isDenial}.
 */
export class Denial implements DenialDetails {
  readonly jobId: string | undefined;
  readonly tokenId: string | undefined;
  readonly recordError: RecordError | undefined;
  readonly staleSession: boolean | undefined;
  readonly tokenChanged: boolean | undefined;

  constructor(
    /** Why, for the access log and metrics. */
    readonly decision: AccessDecision,
    readonly answer: Answer,
    details: DenialDetails = {},
  ) {
    this.jobId = details.jobId;
    this.tokenId = details.tokenId;
    this.recordError = details.recordError;
    this.staleSession = details.staleSession;
    this.tokenChanged = details.tokenChanged;
  }

  /** The same denial, about `details` as well. */
  with(details: DenialDetails): Denial {
    return new Denial(this.decision, this.answer, { ...this, ...details });
  }
}

export function isDenial(value: unknown): value is Denial {
  return value instanceof Denial;
}

/**
 * A value, or the promise of one when Redis had to be asked. The hot path (records in the
 * cache) thus decides without a promise or an await; callers check with isPromise.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}
