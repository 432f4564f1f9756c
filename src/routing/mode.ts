import type { HostRouter } from './host.js';

/** Which job a listener serves: many by Host header (gateway), or one (sidecar). */
export type Mode = { readonly kind: 'gateway'; readonly router: HostRouter } | { readonly kind: 'sidecar'; readonly jobId: string; readonly upstream: URL };
