import type { Answer } from '../http/answers.js';
import type { TokenRecord } from '../tokens/record.js';
import type { ApiAccess } from './api-access.js';
import type { Authenticator, Exchange, JobAdmission } from './authenticator.js';
import { followDeepLink, type DeepLink, type DeepLinkResult } from './deep-link.js';
import { isDenial, isPromise, type Denial, type MaybePromise } from './denial.js';
import type { JobRouter, Target } from './job-router.js';
import { crossOriginDenial } from './origin.js';
import { refusalReply, type Reply } from './refusal.js';
import { hostName, type GateRequest } from './request.js';
import { NO_USAGE, type UsageSink } from './usage.js';

/**
 * The one gate every entry point calls (the inline proxy for HTTP and WebSocket, the
 * forward-auth endpoint): given a {@link GateRequest}, which route it takes (the training API,
 * or a job), and whether it passes. Transports only read requests and write answers.
 */
export class Gate {
  constructor(
    private readonly router: JobRouter,
    private readonly authenticator: Authenticator,
    /** The training API, when JOBGATE_API_HOST is set. */
    readonly api: ApiAccess | undefined,
    /** The control API's host name (JOBGATE_CONTROL_HOST), as {@link hostName} reads it. */
    private readonly controlHost?: string,
    /** Where admitted requests note their token and job (last use). */
    private readonly usage: UsageSink = NO_USAGE,
  ) {}

  /** Notes that `token` was accepted (and `jobId` forwarded to): the last-use record. */
  used(tokenId: string | undefined, jobId?: string): void {
    this.usage.used(tokenId, jobId);
  }

  /** Whether the request is for jobgate's control API. */
  isControl(req: GateRequest): boolean {
    return this.controlHost !== undefined && hostName(req.host) === this.controlHost;
  }

  /** The token of a control API request (a bearer token), or the denial (400, 401, 429, 503); its role is the API's to check. */
  authenticateForControl(req: GateRequest): MaybePromise<TokenRecord | Denial> {
    return this.authenticator.authenticateForApi(req);
  }

  /** The token a value pasted into the console's sign-in form stands for, or the denial (401, 429, 503). */
  authenticateValue(value: string, client: string): MaybePromise<TokenRecord | Denial> {
    return this.authenticator.authenticateValue(value, client);
  }

  /** The token of a console session (its id and version), undefined once renewed, deleted or expired, or the denial (503). */
  sessionToken(id: string, version: number): Promise<TokenRecord | Denial | undefined> {
    return this.authenticator.sessionTokenById(id, version);
  }

  /** The training API when the request's host is one of its hosts. */
  apiFor(req: GateRequest): ApiAccess | undefined {
    return this.api?.hosts.has(hostName(req.host)) ? this.api : undefined;
  }

  /** The job the request is for, or the denial (404, 409, 503). */
  target(req: GateRequest): MaybePromise<Target | Denial> {
    return this.router.route(req.host, req.https);
  }

  /**
   * Credential, identity, decision, then, for a session cookie, the origin check: the admission
   * to `target`, or the denial. At once (no promise) when the cache knows the records.
   */
  admitToJob(req: GateRequest, target: Target, websocket: boolean): MaybePromise<JobAdmission | Denial> {
    const admitted = this.authenticator.admitToJob(req, target);
    return isPromise(admitted)
      ? admitted.then((admission) => this.noted(withOrigin(req, admission, websocket)))
      : this.noted(withOrigin(req, admitted, websocket));
  }

  private noted(admission: JobAdmission | Denial): JobAdmission | Denial {
    if (!isDenial(admission)) this.usage.used(admission.token?.id, admission.job.id);
    return admission;
  }

  /** A deep link (`?jobgate_token=`) to `target`: ask, redirect (with a session), or the denial. */
  followDeepLink(req: GateRequest, target: Target, link: DeepLink): Promise<DeepLinkResult | Denial> {
    return followDeepLink(this.authenticator, req, target, link);
  }

  /** The login form's token value, exchanged for a session on `target`. */
  exchange(value: string, req: GateRequest, target: Target): Promise<Exchange> {
    return this.authenticator.exchange(value, req, target);
  }

  /** The answer to a denial: a page for a browser's navigation to a job, else JSON and the RFC 6750 challenge. */
  refusal(denial: Denial, req: GateRequest): Reply | Answer {
    return refusalReply(denial, req, denial.staleSession ? this.authenticator.clearSession(req.https) : undefined);
  }

  /** The Set-Cookie value that ends the session (logout). */
  clearSession(https: boolean): string[] {
    return this.authenticator.clearSession(https);
  }
}

function withOrigin(req: GateRequest, admission: JobAdmission | Denial, websocket: boolean): JobAdmission | Denial {
  if (isDenial(admission)) return admission;
  const foreign = crossOriginDenial(req, admission.via, websocket);
  return foreign ? foreign.with({ jobId: admission.job.id, tokenId: admission.token?.id }) : admission;
}
