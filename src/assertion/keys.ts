import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { InputError } from '../errors.js';

export const ASSERTION_ALGORITHMS = ['ES256', 'EdDSA'] as const;
export type AssertionAlgorithm = (typeof ASSERTION_ALGORITHMS)[number];

/** One signing key, with what a verifier needs to pick and check it. */
export interface AssertionKey {
  readonly kid: string;
  readonly alg: AssertionAlgorithm;
  readonly privateKey: KeyObject;
  /** The public half as a JWK, with kid, alg and use: what the JWKS publishes. */
  readonly publicJwk: JWK;
}

/** The keys in use: the first signs, all are published (rotation with overlap). */
export interface AssertionKeys {
  readonly signing: AssertionKey;
  readonly all: readonly AssertionKey[];
  /** True when no key was configured and a per-process key is in use. */
  readonly ephemeral: boolean;
}

function algorithmOf(key: KeyObject, source: string): AssertionAlgorithm {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  throw new InputError(`assertion key ${source}: only EC P-256 (ES256) and Ed25519 (EdDSA) private keys are supported`);
}

async function describeKey(privateKey: KeyObject, source: string): Promise<AssertionKey> {
  const alg = algorithmOf(privateKey, source);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** The private keys in a PEM text or a JWK / JWK set (JSON). */
function parseKeyText(text: string, source: string): KeyObject[] {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      const parsed: unknown = JSON.parse(trimmed);
      const list: unknown[] = Array.isArray(parsed) ? parsed : isJwkSet(parsed) ? parsed.keys : [parsed];
      return list.map((jwk) => {
        if (!isPrivateJwk(jwk)) throw new Error('a JWK without "d" is a public key; jobgate needs the private key to sign');
        return createPrivateKey({ key: jwk, format: 'jwk' });
      });
    }
    const blocks = trimmed.match(/-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----/g);
    if (!blocks) throw new Error('no PEM private key and no JWK found');
    return blocks.map((pem) => createPrivateKey(pem));
  } catch (error) {
    throw new InputError(`assertion key ${source}: ${(error as Error).message}`);
  }
}

const isJwkSet = (value: unknown): value is { keys: unknown[] } => typeof value === 'object' && value !== null && 'keys' in value && Array.isArray(value.keys);

const isPrivateJwk = (value: unknown): value is JsonWebKey & { d: string } =>
  typeof value === 'object' && value !== null && 'd' in value && typeof value.d === 'string';

/**
 * Loads the assertion keys: those in JOBGATE_ASSERTION_KEYS first, then each file of
 * JOBGATE_ASSERTION_KEY_FILES, in order; PEM (PKCS#8) or JWK. Without any, a per-process
 * key of `alg`.
 */
export async function loadAssertionKeys(inline: string | undefined, files: readonly string[], alg: AssertionAlgorithm): Promise<AssertionKeys> {
  const privateKeys: Array<[KeyObject, string]> = [];
  if (inline) for (const key of parseKeyText(inline, 'in JOBGATE_ASSERTION_KEYS')) privateKeys.push([key, 'in JOBGATE_ASSERTION_KEYS']);
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new InputError(`assertion key file ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    for (const key of parseKeyText(text, `file ${file}`)) privateKeys.push([key, `file ${file}`]);
  }
  if (privateKeys.length === 0) {
    const key = await describeKey(generatePrivateKey(alg), 'generated');
    return { signing: key, all: [key], ephemeral: true };
  }
  const all = await Promise.all(privateKeys.map(([key, source]) => describeKey(key, source)));
  return { signing: all[0]!, all, ephemeral: false };
}

/** A new private key for `alg`. */
export function generatePrivateKey(alg: AssertionAlgorithm): KeyObject {
  return alg === 'EdDSA' ? generateKeyPairSync('ed25519').privateKey : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** The JWKS document: every key's public half. */
export function jwksDocument(keys: AssertionKeys): { keys: JWK[] } {
  return { keys: keys.all.map((key) => key.publicJwk) };
}
