export { ApiAccess, type ApiAdmission } from './api-access.js';
export { Authenticator, type Exchange, type JobAdmission } from './authenticator.js';
export type { AccessDecision, Outcome } from './decision.js';
export type { DeepLink, DeepLinkResult } from './deep-link.js';
export { Denial, isDenial, isPromise, type MaybePromise } from './denial.js';
export { Gate } from './gate.js';
export { JobRouter, type Target } from './job-router.js';
export { pageReply, type Reply } from './refusal.js';
export { hostName, type GateRequest } from './request.js';
