/**
 * The `aud` of an assertion names exactly the upstream it is for, so that a service replaying
 * one it received to another upstream (a job's other port, another job, the API) is refused by
 * that upstream's verifier. The three forms never meet: job ids are DNS labels (no ':'), and an
 * API audience is a URL.
 */

/** A job's traffic: `job:<id>` for its default upstream, `job:<id>:<port>` for one of its other ports. */
export function jobAudience(jobId: string, port: number | undefined): string {
  return port === undefined ? `job:${jobId}` : `job:${jobId}:${port}`;
}

/**
 * Training-API traffic: the API's origin, `https://<host>` (or `http://` when jobgate's public
 * scheme is not https), with the first configured API host whichever one the client used.
 */
export function apiAudience(scheme: 'http' | 'https', hosts: ReadonlySet<string>): string {
  const [host] = hosts;
  return `${scheme}://${host ?? ''}`;
}
