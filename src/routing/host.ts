import { jobIdProblem } from '../jobs/record.js';

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
  readonly portReading: { readonly jobId: string; readonly port: number } | undefined;
}

/** Parses Host headers against one job domain; built once at start-up. */
export class HostRouter {
  private readonly suffix: string;

  constructor(jobDomain: string) {
    this.suffix = `.${jobDomain.toLowerCase()}`;
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

/**
 * The `<job-id>-<port>` reading of a host label, or undefined: the digits after the last '-'
 * (a port, 1 to 65535, no leading zero) and a valid job id before it. Ports are numbers, so
 * a label has at most one such reading (`a-b-80` is port 80 of job `a-b`).
 */
export function portReading(label: string): HostRoute['portReading'] {
  const dash = label.lastIndexOf('-');
  if (dash < 1 || label.length - dash - 1 > 5) return undefined;
  let port = 0;
  for (let i = dash + 1; i < label.length; i++) {
    const code = label.charCodeAt(i);
    if (code < 48 || code > 57) return undefined;
    port = port * 10 + (code - 48);
  }
  if (port < 1 || port > 65535 || label.charCodeAt(dash + 1) === 48) return undefined;
  const jobId = label.slice(0, dash);
  return jobIdProblem(jobId) === undefined ? { jobId, port } : undefined;
}
