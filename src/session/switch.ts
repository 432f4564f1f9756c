import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Denial, Gatekeeper, Target } from '../proxy/admission.js';
import { parseToken } from '../tokens/format.js';
import { followedFromElsewhere } from './browser.js';
import { switchSessionPage } from './pages.js';

/** The page to answer a deep link with instead of replacing the session, and whose session it keeps. */
export interface SwitchQuestion {
  readonly page: string;
  readonly currentTokenId: string;
}

/**
 * Login CSRF guard for deep links: a link followed from elsewhere (see followedFromElsewhere;
 * `fetchHeaders` are the client's headers, which a forward-auth edge passes on) must not
 * silently replace a valid session of another token. Then the page that asks first; the denial
 * when the current session cannot be checked (Redis down); otherwise undefined, and the link
 * opens its session as always: pasted or from the job's own pages, without a valid session, for
 * the same token, or with a value that is not a token at all (which opens nothing).
 */
export async function askBeforeSwitching(
  gatekeeper: Gatekeeper,
  req: IncomingMessage,
  fetchHeaders: IncomingHttpHeaders,
  target: Target,
  link: { readonly token: string; readonly rest: string },
  https: boolean,
): Promise<SwitchQuestion | Denial | undefined> {
  if (!followedFromElsewhere(fetchHeaders)) return undefined;
  const value = link.token.trim();
  const presented = value.length < 512 ? parseToken(value) : undefined;
  if (!presented) return undefined;
  const current = await gatekeeper.currentSession(req, target, https);
  if (current === undefined || 'ok' in current) return current;
  if (current.id === presented.id) return undefined;
  return {
    currentTokenId: current.id,
    page: switchSessionPage({ jobId: target.job.id, currentTokenName: current.name, token: value, next: link.rest }),
  };
}
