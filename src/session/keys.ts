import { hkdfSync, randomBytes } from 'node:crypto';

/** The minimum length of a cookie secret. */
export const MIN_COOKIE_SECRET_LENGTH = 32;

/** Keys for the session cookie: the first signs, all verify (rotation). */
export interface SessionKeys {
  readonly signing: SessionKey;
  readonly all: readonly SessionKey[];
  /** True when no secret was configured and a per-process key is in use. */
  readonly ephemeral: boolean;
}

export interface SessionKey {
  /** Key id: a short fingerprint, so that verification picks the right key at once. */
  readonly kid: string;
  readonly key: Uint8Array;
}

function derive(secret: Buffer | string): SessionKey {
  const key = new Uint8Array(hkdfSync('sha256', secret, 'jobgate', 'jobgate session cookie v1', 32));
  const kid = Buffer.from(hkdfSync('sha256', key, 'jobgate', 'jobgate key id', 6)).toString('base64url');
  return { kid, key };
}

/**
 * Derives cookie keys with HKDF-SHA-256 from JOBGATE_COOKIE_SECRET (comma-separated for
 * rotation). Without secrets, a random per-process key: sessions then end with the process.
 */
export function sessionKeys(secrets: readonly string[]): SessionKeys {
  if (secrets.length === 0) {
    const key = derive(randomBytes(32));
    return { signing: key, all: [key], ephemeral: true };
  }
  const all = secrets.map((secret) => derive(secret));
  return { signing: all[0]!, all, ephemeral: false };
}
