import { jobIdProblem } from '../jobs/record.js';
import { portReading, type PortReading } from '../jobs/port-label.js';

/**
 * What a Host header names under the job domain: `<label>.<jobDomain>`. The label is
 * either a job id, or `<job-id>-<port>`; which one is decided by the registry, so both
 * readings are returned. `jobgate job put` never lets both exist; when an admin script
 * made them both exist anyway, the host is refused (409), never one of them picked.
 */
export interface HostRoute {
  /** The whole first label: a job id when such a job exists. */
  readonly label: string;
  /** The `<job-id>-<port>` reading of the label, when it has that shape. */
  readonly portReading: PortReading | undefined;
}

/** Parses Host headers against one job domain; built once at start-up. */
export class HostRouter {
  private readonly suffix: string;
  /** The job domain, lowercased: job URLs are `<label>.<jobDomain>`. */
  readonly jobDomain: string;

  constructor(jobDomain: string) {
    this.jobDomain = jobDomain.toLowerCase();
    this.suffix = `.${this.jobDomain}`;
  }

  /** The route a Host header names, or undefined when it is outside the job domain. */
  route(host: string | undefined): HostRoute | undefined {
    if (host === undefined || host.length > 300) return undefined;
    let end = host.length;
    // A port in the Host header (`id.domain:8080`) is ignored; an IPv6 literal never matches.
    const colon = host.lastIndexOf(':');
    if (colon !== -1) end = colon;
    if (host.charCodeAt(end - 1) === 46) end--; // trailing dot of a fully qualified name
    const name = host.slice(0, end).toLowerCase();
    if (!name.endsWith(this.suffix)) return undefined;
    const label = name.slice(0, name.length - this.suffix.length);
    if (jobIdProblem(label) !== undefined) return undefined;
    return { label, portReading: portReading(label) };
  }
}
