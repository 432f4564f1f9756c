import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request the gate decides on, whatever carried it: the inline proxy's own request (HTTP
 * or WebSocket handshake), or the original request a forward-auth edge asks about.
 */
export interface GateRequest {
  readonly method: string;
  /** The Host the request is routed on, as sent (port included). */
  readonly host: string | undefined;
  /** The host the client addressed (X-Forwarded-Host through trusted hops): its origin is the job's own. */
  readonly publicHost: string;
  /** The origin-form request target: path and query. */
  readonly url: string;
  /** The headers the gate reads: authorization, cookie, accept, origin, sec-fetch-site. */
  readonly headers: IncomingHttpHeaders;
  /** The raw header list, to count Authorization headers (Node keeps only the first). */
  readonly rawHeaders: readonly string[];
  /** The client's address as far as trusted hops tell: the failure limit counts by it. */
  readonly client: string;
  /** Whether the client reached jobgate over HTTPS: which session cookie applies, which origin is its own. */
  readonly https: boolean;
}

/** The host name a request is for, as a session cookie is bound to it: without port, lowercased. */
export function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  const colon = host.lastIndexOf(':');
  return (colon === -1 || host.endsWith(']') ? host : host.slice(0, colon)).toLowerCase();
}
