import type { OutgoingHttpHeaders } from 'node:http';
import { isDenial, pageReply, type DeepLink, type Target } from '../gate/index.js';
import { sendAnswer } from '../http/answers.js';
import { SWITCH_SESSION_HEADERS } from '../session/pages.js';
import { refuse, type HttpCall, type ProxyContext } from './context.js';

/**
 * `?jobgate_token=` on a job URL: exchanged for a session, then 303 to the URL without it.
 * Followed from elsewhere while a valid session for another token exists: a page that asks first.
 */
export async function deepLink(ctx: ProxyContext, call: HttpCall, target: Target, link: DeepLink): Promise<void> {
  const { res, outcome } = call;
  const result = await ctx.gate.followDeepLink(call.view, target, link);
  if (isDenial(result)) return refuse(ctx, call, result);
  if (result.kind === 'ask') {
    outcome.decision = 'deep_link_confirm';
    outcome.tokenId = result.currentTokenId;
    return sendAnswer(res, pageReply(409, result.page, {}, SWITCH_SESSION_HEADERS));
  }
  outcome.decision = result.decision;
  if (result.tokenId !== undefined) outcome.tokenId = result.tokenId;
  const headers: OutgoingHttpHeaders = { location: link.rest, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 };
  if (result.setCookie !== undefined) headers['set-cookie'] = result.setCookie;
  res.writeHead(303, headers);
  res.end();
}
