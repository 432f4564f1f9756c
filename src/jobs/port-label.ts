import { jobIdProblem } from './record.js';

/** A host label read as `<job-id>-<port>`: that job's other port. */
export interface PortReading {
  readonly jobId: string;
  readonly port: number;
}

/**
 * The `<job-id>-<port>` reading of a host label, or undefined: the digits after the last '-'
 * (a port, 1 to 65535, no leading zero) and a valid job id before it. Ports are numbers, so
 * a label has at most one such reading (`a-b-80` is port 80 of job `a-b`).
 */
export function portReading(label: string): PortReading | undefined {
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
