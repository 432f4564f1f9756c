import { isConsolePath, type ConsoleApp } from '../console/app.js';
import type { ControlApi } from '../control/http.js';
import { isDenial, isPromise } from '../gate/index.js';
import { answer } from '../http/answers.js';
import { refuse, type HttpCall, type ProxyContext, type UpgradeCall } from './context.js';

const NO_WEBSOCKETS = answer(404, 'not_found', 'The control API has no WebSocket routes.');

/** A request to the control host: the gate authenticates the token, the control API does the rest. */
export async function controlHttp(ctx: ProxyContext, call: HttpCall, control: ControlApi): Promise<void> {
  if (ctx.console && isConsolePath(call.view.url)) return consoleHttp(call, ctx.console);
  const authenticated = ctx.gate.authenticateForControl(call.view);
  const token = isPromise(authenticated) ? await authenticated : authenticated;
  if (isDenial(token)) return refuse(ctx, call, token);
  call.outcome.tokenId = token.id;
  call.outcome.decision = await control.handle(call.req, call.res, token, call.view.client);
  if (call.outcome.decision === 'control') ctx.gate.used(token.id);
}

/** A request for the token console's pages (src/console/): the console signs in and checks its own session. */
async function consoleHttp(call: HttpCall, console: ConsoleApp): Promise<void> {
  const outcome = await console.handle(call.req, call.res, call.view);
  call.outcome.decision = outcome.decision;
  if (outcome.tokenId !== undefined) call.outcome.tokenId = outcome.tokenId;
}

/** A WebSocket handshake to the control host: there is none to open. */
export function controlUpgrade(call: UpgradeCall): void {
  call.outcome.decision = 'not_found';
  call.refuse(NO_WEBSOCKETS);
}
