import type { JobRecord } from '../jobs/record.js';
import type { Logger } from './logger.js';

/**
 * Sidecar mode forwards every request to JOBGATE_SIDECAR_UPSTREAM: the upstream in the job's record,
 * which `jobgate job put` requires, is not used (its labels and unsecureHttp flag are). Returns what
 * to call with each record of the sidecar job that jobgate reads; it logs one warning line, naming
 * both upstreams and the one used, when the record names another upstream: once per upstream the
 * record names, not at every read.
 */
export function sidecarUpstreamWarning(jobId: string, served: URL, logger: Logger): (job: JobRecord) => void {
  const shown = withoutCredentials(served);
  let warnedFor: string | undefined;
  return (job) => {
    const recorded = job.upstream.href;
    if (recorded === served.href) {
      warnedFor = undefined;
      return;
    }
    if (recorded === warnedFor) return;
    warnedFor = recorded;
    logger.warn(
      { event: 'sidecar_upstream_differs', jobId, recordUpstream: recorded, sidecarUpstream: shown },
      `job ${jobId}'s record names upstream ${recorded}, but sidecar mode forwards to JOBGATE_SIDECAR_UPSTREAM ${shown}: that one is used, the record's is ignored`,
    );
  };
}

/** The URL without a user or password, for a log line. */
function withoutCredentials(url: URL): string {
  if (url.username === '' && url.password === '') return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
