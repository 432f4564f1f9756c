/** Where the gate notes each accepted token and each job it lets a request through to (src/registry/last-use.ts). */
export interface UsageSink {
  used(tokenId: string | undefined, jobId: string | undefined): void;
}

/** Notes nothing: the forward-auth-only and test wirings that keep no last-use record. */
export const NO_USAGE: UsageSink = { used: () => {} };
