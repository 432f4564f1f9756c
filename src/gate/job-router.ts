import { RecordError, StoreUnavailableError } from '../errors.js';
import { answer, ANSWERS, missingSidecarJob } from '../http/answers.js';
import type { JobRecord } from '../jobs/record.js';
import type { Registry } from '../registry/registry.js';
import type { HostRoute } from '../routing/host.js';
import type { Mode } from '../routing/mode.js';
import { Denial, type MaybePromise } from './denial.js';

/** The job a request is for, which of its ports, and where its traffic goes. */
export interface Target {
  readonly job: JobRecord;
  readonly upstream: URL;
  /** The job's other port the host names (`<id>-<port>`); absent for its default upstream. */
  readonly port?: number;
}

/** A host name that is both a job's id and another job's `<id>-<port>` (written around `jobgate job put`). */
const AMBIGUOUS_HOST = answer(
  409,
  'ambiguous_host',
  "This host name is both a job id and another job's <job-id>-<port> host name, so jobgate serves neither. An administrator must rename the job or remove the port (see docs/redis-schema.md).",
);

/**
 * Which job a request is for: the sidecar's one job, or the job the Host names in gateway mode.
 * Answers at once (no promise) when the cache knows the records, which is the common case.
 */
export class JobRouter {
  /** The 404 for a host outside the job domain, naming the domain, for clients over HTTP and HTTPS. */
  private readonly noRoute: { readonly http: Denial; readonly https: Denial };

  constructor(
    private readonly mode: Mode,
    private readonly registry: Registry,
  ) {
    const domain = mode.kind === 'gateway' ? mode.router.jobDomain : '<job domain>';
    this.noRoute = { http: noRouteDenial('http', domain), https: noRouteDenial('https', domain) };
  }

  /** The job and upstream for a Host header, or the denial (404, 409, 503); `https` says which scheme the 404 names. */
  route(host: string | undefined, https: boolean): MaybePromise<Target | Denial> {
    if (this.mode.kind === 'sidecar') {
      const { jobId, upstream } = this.mode;
      return this.withJob(jobId, (job) => (job ? { job, upstream } : new Denial('sidecar_job_missing', missingSidecarJob(jobId), { jobId })));
    }
    const route = this.mode.router.route(host);
    if (!route) return https ? this.noRoute.https : this.noRoute.http;
    return this.withJob(route.label, (job) => (job ? this.jobTarget(job, route) : this.portTarget(route)));
  }

  /**
   * The job whose id is the whole label, unless the label also names a registered port of
   * another job (records written around `job put`): then neither, never a guess (409).
   */
  private jobTarget(job: JobRecord, route: HostRoute): MaybePromise<Target | Denial> {
    const reading = route.portReading;
    const target: Target = { job, upstream: job.upstream };
    if (!reading) return target;
    return this.withJob(reading.jobId, (owner) => (owner?.ports.has(reading.port) ? new Denial('ambiguous_host', AMBIGUOUS_HOST, { jobId: job.id }) : target));
  }

  /** `<job-id>-<port>`: the job's other port, when no job has the whole label as its id. */
  private portTarget(route: HostRoute): MaybePromise<Target | Denial> {
    const reading = route.portReading;
    if (!reading) return new Denial('unknown_job', ANSWERS.unknownJob, { jobId: route.label });
    return this.withJob(reading.jobId, (job) => {
      if (!job) return new Denial('unknown_job', ANSWERS.unknownJob, { jobId: reading.jobId });
      const upstream = job.ports.get(reading.port);
      return upstream ? { job, upstream, port: reading.port } : new Denial('unknown_port', ANSWERS.unknownPort, { jobId: reading.jobId });
    });
  }

  /** Calls `next` with job `id`'s record: at once from the cache, or after the Redis lookup. Registry errors become denials. */
  private withJob<R>(id: string, next: (job: JobRecord | undefined) => MaybePromise<R | Denial>): MaybePromise<R | Denial> {
    const cached = this.registry.peekJob(id);
    if (cached) return next(cached.value);
    return this.registry.job(id).then(next, (error: unknown) => storeFailure(error, 'job', {}));
  }
}

/**
 * The denial for a registry lookup that failed: a malformed `record` or an unreachable store.
 * Anything else is a bug: rethrown.
 */
export function storeFailure(
  error: unknown,
  record: 'token' | 'job',
  ids: { readonly jobId?: string | undefined; readonly tokenId?: string | undefined },
): Denial {
  if (error instanceof RecordError) {
    if (record === 'token') return new Denial('invalid_token_record', ANSWERS.unverifiableToken, { ...ids, recordError: error });
    return new Denial('invalid_job_record', ANSWERS.invalidJob, { ...ids, recordError: error });
  }
  if (error instanceof StoreUnavailableError) return new Denial('store_unavailable', ANSWERS.storeUnavailable, ids);
  throw error;
}

function noRouteDenial(scheme: 'http' | 'https', jobDomain: string): Denial {
  return new Denial(
    'no_route',
    answer(
      404,
      'not_found',
      `No job is served at this host name. Job URLs look like ${scheme}://<job-id>.${jobDomain}/ or ${scheme}://<job-id>-<port>.${jobDomain}/.`,
    ),
  );
}
