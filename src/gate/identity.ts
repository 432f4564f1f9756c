import type { TokenRecord } from '../tokens/record.js';

/** The identity headers for one token, computed once per token record. */
export interface IdentityHeaders {
  readonly tokenId: string;
  readonly tokenName: string;
  readonly role: string;
}

const identityCache = new WeakMap<TokenRecord, IdentityHeaders>();

/** Header values are latin1 without controls; a name with other characters is percent-encoded. */
function headerSafe(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x25) return encodeURIComponent(text);
  }
  return text;
}

/** The identity headers for `token`: who passed, for the upstream (X-Jobgate-Token-Id, -Token-Name, -Role). */
export function identityHeaders(token: TokenRecord): IdentityHeaders {
  let headers = identityCache.get(token);
  if (!headers) {
    headers = { tokenId: token.id, tokenName: headerSafe(token.name), role: token.role };
    identityCache.set(token, headers);
  }
  return headers;
}
