import { RecordError } from '../errors.js';
import { labelKeyProblem, labelValueProblem, type Labels } from '../selector/index.js';

/** Labels under this prefix belong to jobgate; users cannot set them. */
export const RESERVED_LABEL_PREFIX = 'jobgate/';
/** Every job carries this label with its own id, so `jobgate/id=<id>` scopes a token to one job. */
export const JOB_ID_LABEL = 'jobgate/id';
export const MAX_JOB_ID_LENGTH = 63;
export const MAX_LABELS = 64;

/** A job as stored in Redis, validated, with what the proxy needs precomputed. */
export interface JobRecord {
  readonly id: string;
  /** The user's labels plus `jobgate/id`. */
  readonly labels: Labels;
  /** The default HTTP port's upstream. */
  readonly upstream: URL;
  /** Other ports' upstreams, by port number. */
  readonly ports: ReadonlyMap<number, URL>;
  readonly unsecureHttp: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The shape printed by the CLI. */
export interface JobView {
  id: string;
  createdAt: string;
  updatedAt: string;
  spec: { labels: Record<string, string>; upstream: string; ports: Record<string, string>; unsecureHttp: boolean };
  /** Only for a job forwarded to since jobgate records it. */
  status?: { lastUsedAt: string };
}

export function jobView(job: JobRecord, lastUsedAt?: string): JobView {
  const ports: Record<string, string> = {};
  for (const [port, url] of job.ports) ports[String(port)] = url.href;
  const view: JobView = {
    id: job.id,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    spec: { labels: Object.fromEntries(job.labels), upstream: job.upstream.href, ports, unsecureHttp: job.unsecureHttp },
  };
  if (lastUsedAt !== undefined) view.status = { lastUsedAt };
  return view;
}

/** Why `id` is not a job id (a DNS label: lowercase letters, digits and '-', at most 63), or undefined. */
export function jobIdProblem(id: string): string | undefined {
  if (id.length === 0) return 'it is empty';
  if (id.length > MAX_JOB_ID_LENGTH) return `it is longer than ${MAX_JOB_ID_LENGTH} characters`;
  for (let i = 0; i < id.length; i++) {
    const code = id.charCodeAt(i);
    const alnum = (code >= 97 && code <= 122) || (code >= 48 && code <= 57);
    if (!alnum && code !== 45) return 'only lowercase letters, digits and "-" are allowed';
  }
  if (id.startsWith('-') || id.endsWith('-')) return 'it must start and end with a letter or digit';
  return undefined;
}

/** Why `text` is not a usable upstream URL, or undefined. */
export function upstreamProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it is not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the scheme must be http or https';
  if (url.username || url.password) return 'credentials in the URL are not allowed (they would end up in logs)';
  if (url.search || url.hash || url.href.includes('?') || url.href.includes('#')) return 'a query or fragment is not allowed';
  return undefined;
}

/** Why `port` is not a TCP port number, or undefined. */
export function portProblem(port: string): string | undefined {
  if (!/^[1-9]\d{0,4}$/.test(port) || Number(port) > 65535) return 'a port is a number from 1 to 65535';
  return undefined;
}

/** Why a user label is refused, or undefined. */
export function userLabelProblem(key: string, value: string): string | undefined {
  if (key.startsWith(RESERVED_LABEL_PREFIX)) return `label "${key}" uses the reserved prefix "${RESERVED_LABEL_PREFIX}"`;
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) return `label key "${key}": ${keyProblem}`;
  const valueProblem = labelValueProblem(value);
  if (valueProblem) return `label "${key}" value "${value}": ${valueProblem}`;
  return undefined;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function parseJsonObject(key: string, field: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RecordError(key, `field "${field}" is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RecordError(key, `field "${field}" is not a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * Validates the hash stored at `key` for job `id`. Throws RecordError, which every caller
 * treats as "deny", for anything a hand-written record can get wrong.
 */
export function jobFromHash(key: string, requestedId: string, hash: Record<string, string>): JobRecord {
  const field = (name: string): string => {
    const value = hash[name];
    if (value === undefined) throw new RecordError(key, `field "${name}" is missing`);
    return value;
  };
  // The stored string, not the requested one: that one is often cut from a request's Host
  // header, and a cached record holding it would keep the whole header alive.
  const id = field('id');
  if (id !== requestedId || jobIdProblem(id)) throw new RecordError(key, 'field "id" does not match the key');

  const rawLabels = parseJsonObject(key, 'labels', field('labels'));
  const labelEntries = Object.entries(rawLabels);
  if (labelEntries.length > MAX_LABELS) throw new RecordError(key, `more than ${MAX_LABELS} labels`);
  const labels = new Map<string, string>();
  for (const [label, value] of labelEntries) {
    if (typeof value !== 'string') throw new RecordError(key, `label "${label}" is not a string`);
    const problem = userLabelProblem(label, value);
    if (problem) throw new RecordError(key, problem);
    labels.set(label, value);
  }
  labels.set(JOB_ID_LABEL, id);

  const upstreamText = field('upstream');
  const problem = upstreamProblem(upstreamText);
  if (problem) throw new RecordError(key, `upstream: ${problem}`);

  const ports = new Map<number, URL>();
  const rawPorts = hash.ports === undefined || hash.ports === '' ? {} : parseJsonObject(key, 'ports', hash.ports);
  for (const [port, url] of Object.entries(rawPorts)) {
    const portIssue = portProblem(port);
    if (portIssue) throw new RecordError(key, `ports: "${port}": ${portIssue}`);
    if (typeof url !== 'string') throw new RecordError(key, `ports: "${port}" is not a URL string`);
    const urlIssue = upstreamProblem(url);
    if (urlIssue) throw new RecordError(key, `ports: "${port}": ${urlIssue}`);
    ports.set(Number(port), new URL(url));
  }

  const unsecure = hash.unsecureHttp ?? 'false';
  if (unsecure !== 'true' && unsecure !== 'false') throw new RecordError(key, 'unsecureHttp is neither "true" nor "false"');

  const createdAt = field('createdAt');
  const updatedAt = field('updatedAt');
  if (!TIMESTAMP.test(createdAt)) throw new RecordError(key, 'createdAt is not an ISO-8601 UTC timestamp');
  if (!TIMESTAMP.test(updatedAt)) throw new RecordError(key, 'updatedAt is not an ISO-8601 UTC timestamp');

  return {
    id,
    labels,
    upstream: new URL(upstreamText),
    ports,
    unsecureHttp: unsecure === 'true',
    createdAt,
    updatedAt,
  };
}
