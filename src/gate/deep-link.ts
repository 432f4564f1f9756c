import { followedFromElsewhere } from '../session/browser.js';
import { switchSessionPage } from '../session/pages.js';
import { parseToken } from '../tokens/format.js';
import type { Authenticator } from './authenticator.js';
import type { AccessDecision } from './decision.js';
import { isDenial, type Denial } from './denial.js';
import type { Target } from './job-router.js';
import type { GateRequest } from './request.js';

/** A deep link: the token it carries, and the same-host path to go to without it. */
export interface DeepLink {
  readonly token: string;
  readonly rest: string;
}

/** What following a deep link comes to, short of a denial. */
export type DeepLinkResult =
  /** A valid session of another token would be replaced from elsewhere: ask first (409 and this page). */
  | { readonly kind: 'ask'; readonly page: string; readonly currentTokenId: string }
  /** Redirect (303) to the URL without the token, with the new session's cookie when one was opened. */
  | { readonly kind: 'redirect'; readonly decision: AccessDecision; readonly tokenId: string | undefined; readonly setCookie: string | undefined };

const DECISIONS = { session: 'deep_link', invalid: 'deep_link_invalid', out_of_scope: 'deep_link_out_of_scope', limited: 'deep_link_limited' } as const;

/**
 * `?jobgate_token=` on a job URL: the token is exchanged for a session, and the browser goes on
 * to the URL without it, whatever came of the exchange (a bad token must not stay in the address
 * bar). Login CSRF guard: a link followed from elsewhere must not silently replace a valid session
 * of another token; then the page that asks first.
 */
export async function followDeepLink(authenticator: Authenticator, req: GateRequest, target: Target, link: DeepLink): Promise<DeepLinkResult | Denial> {
  const question = await askBeforeSwitching(authenticator, req, target, link);
  if (question) return question;
  const exchange = await authenticator.exchange(link.token, req, target);
  if (isDenial(exchange)) return exchange;
  const tokenId = exchange.kind === 'session' || exchange.kind === 'out_of_scope' ? exchange.token.id : undefined;
  return { kind: 'redirect', decision: DECISIONS[exchange.kind], tokenId, setCookie: exchange.kind === 'session' ? exchange.setCookie : undefined };
}

/**
 * The question to ask instead of replacing the session, the denial when the current session
 * cannot be checked (Redis down), or undefined: the link opens its session as always when pasted
 * or followed from the job's own pages, without a valid session, for the same token, or with a
 * value that is not a token at all (which opens nothing).
 */
async function askBeforeSwitching(
  authenticator: Authenticator,
  req: GateRequest,
  target: Target,
  link: DeepLink,
): Promise<DeepLinkResult | Denial | undefined> {
  if (!followedFromElsewhere(req.headers)) return undefined;
  const value = link.token.trim();
  const presented = value.length < 512 ? parseToken(value) : undefined;
  if (!presented) return undefined;
  const current = await authenticator.currentSession(req, target);
  if (current === undefined || isDenial(current)) return current;
  if (current.id === presented.id) return undefined;
  return {
    kind: 'ask',
    currentTokenId: current.id,
    page: switchSessionPage({ jobId: target.job.id, currentTokenName: current.name, token: value, next: link.rest }),
  };
}
