import { AUDIT_LUA, cliActor, eventFields, type Actor } from '../audit/event.js';
import type { RedisClient } from '../redis/connect.js';
import { InputError, NotFoundError } from '../errors.js';
import { invalidation, type KeySpace } from '../redis/keys.js';
import { LuaScript, pairsToObject, redisCall, readHash, readHashes, readScores } from '../redis/index.js';
import { portReading } from './port-label.js';
import { jobFromHash, jobIdProblem, MAX_LABELS, portProblem, upstreamProblem, userLabelProblem, type JobRecord } from './record.js';

/** What `job put` writes: the whole job, replacing any previous one with this id. */
export interface JobSpec {
  readonly id: string;
  readonly upstream: string;
  readonly ports?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly unsecureHttp?: boolean;
}

// KEYS: job hash, job index, audit stream, then the hashes whose existence would make a host name
// mean two things: the job that `id` reads as `<job>-<port>` of (when it has that shape), then job
// `<id>-<port>` for every port of the new job. ARGV: id, now, channel, message, the port of id's
// reading ('' for none), the number of ports n, the number of audit event fields m, the m fields,
// the n ports, then field/value pairs. Refuses (returning "port:<port>" or "job:<port>", writing
// nothing) when a host name would mean two things; otherwise replaces the hash whole, keeps the
// first createdAt, indexes and announces the job, and records the event. A record that cannot be
// read counts as a collision: fail closed.
const PUT = new LuaScript(`${AUDIT_LUA}
local portCount = tonumber(ARGV[6])
local eventEnd = 7 + tonumber(ARGV[7])
local nextKey = 4
if ARGV[5] ~= '' then
  local found = redis.pcall('HGET', KEYS[4], 'ports')
  nextKey = 5
  if type(found) == 'table' and found.err then return 'port:' .. ARGV[5] end
  if found then
    local ok, ports = pcall(cjson.decode, found)
    if not ok or type(ports) ~= 'table' or ports[ARGV[5]] ~= nil then return 'port:' .. ARGV[5] end
  end
end
for i = 1, portCount do
  if redis.call('EXISTS', KEYS[nextKey + i - 1]) == 1 then return 'job:' .. ARGV[eventEnd + i] end
end
local createdAt = redis.call('HGET', KEYS[1], 'createdAt') or ARGV[2]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'createdAt', createdAt, 'updatedAt', ARGV[2], unpack(ARGV, eventEnd + portCount + 1))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
audit(KEYS[3], 8, eventEnd)
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: job hash, job index, audit stream, last-use set. ARGV: id, channel, message, then the audit
// event's fields. Returns 1 when it existed (and only then records the event).
const DELETE = new LuaScript(`${AUDIT_LUA}
local labels = fields(KEYS[1], 'labels')[1]
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
if existed == 1 then audit(KEYS[3], 4, #ARGV, 'labels', labels) end
return existed
`);

/** The refusal for a put whose host names would mean two things (see PUT). */
function collision(id: string, reply: string, owner: string | undefined): InputError {
  const port = reply.slice(reply.indexOf(':') + 1);
  if (reply.startsWith('port:')) {
    return new InputError(
      `job id "${id}" is the host name of port ${port} of job ${owner} (${id}.<jobDomain>): choose another id, or remove port ${port} from job ${owner} first`,
    );
  }
  return new InputError(
    `port ${port} of job ${id} would be served at ${id}-${port}.<jobDomain>, the host name of job ${id}-${port}: choose another port, or delete job ${id}-${port} first`,
  );
}

export function assertJobId(id: string): void {
  const problem = jobIdProblem(id);
  if (problem) throw new InputError(`invalid job id "${id}": ${problem} (a job id is a DNS label)`);
}

export function validateJobSpec(spec: JobSpec): void {
  assertJobId(spec.id);
  const upstream = upstreamProblem(spec.upstream);
  if (upstream) throw new InputError(`invalid upstream "${spec.upstream}": ${upstream}`);
  for (const [port, url] of Object.entries(spec.ports ?? {})) {
    const problem = portProblem(port) ?? upstreamProblem(url);
    if (problem) throw new InputError(`invalid port mapping "${port}=${url}": ${problem}`);
  }
  const labels = Object.entries(spec.labels ?? {});
  if (labels.length > MAX_LABELS) throw new InputError(`too many labels: at most ${MAX_LABELS}`);
  for (const [key, value] of labels) {
    const problem = userLabelProblem(key, value);
    if (problem) throw new InputError(`invalid label: ${problem}`);
  }
}

/**
 * Job records in Redis: every change is one atomic script, which also appends its audit event
 * (src/audit/), naming `actor`: by default this process's OS user and host.
 */
export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    private readonly actor: Actor = cliActor(),
  ) {}

  /** The same store, recording `actor` as the author of its changes. */
  as(actor: Actor): JobStore {
    return new JobStore(this.redis, this.keys, actor);
  }

  /**
   * Creates or replaces a job. Refused (InputError, nothing written) when the job's id is
   * another job's `<id>-<port>` host name, or one of its ports makes `<id>-<port>` another
   * job's id: the host name would then mean two things. Checked inside the script that writes.
   */
  async put(spec: JobSpec, now = new Date()): Promise<JobRecord> {
    validateJobSpec(spec);
    const key = this.keys.job(spec.id);
    const labels = JSON.stringify(spec.labels ?? {});
    const fields = [
      'id',
      spec.id,
      'labels',
      labels,
      'upstream',
      new URL(spec.upstream).href,
      'ports',
      JSON.stringify(Object.fromEntries(Object.entries(spec.ports ?? {}).map(([port, url]) => [port, new URL(url).href]))),
      'unsecureHttp',
      String(spec.unsecureHttp ?? false),
    ];
    const owner = portReading(spec.id);
    const ports = Object.keys(spec.ports ?? {});
    const keys = [
      key,
      this.keys.jobs,
      this.keys.events,
      ...(owner ? [this.keys.job(owner.jobId)] : []),
      ...ports.map((port) => this.keys.job(`${spec.id}-${port}`)),
    ];
    const event = [...eventFields('job.put', spec.id, this.actor, now), 'labels', labels];
    const args = [
      spec.id,
      now.toISOString(),
      this.keys.channel,
      invalidation.job(spec.id),
      owner ? String(owner.port) : '',
      String(ports.length),
      String(event.length),
      ...event,
      ...ports,
      ...fields,
    ];
    const reply = await redisCall(() => PUT.run(this.redis, keys, args));
    if (typeof reply === 'string') throw collision(spec.id, reply, owner?.jobId);
    return jobFromHash(key, spec.id, pairsToObject(reply));
  }

  async get(id: string): Promise<JobRecord> {
    assertJobId(id);
    const job = await this.find(id);
    if (!job) throw new NotFoundError(`job ${id} not found`);
    return job;
  }

  /** The job, or undefined when there is none. One HGETALL. */
  async find(id: string): Promise<JobRecord | undefined> {
    const key = this.keys.job(id);
    const hash = await readHash(this.redis, key);
    if (Object.keys(hash).length === 0) return undefined;
    return jobFromHash(key, id, hash);
  }

  async ids(): Promise<string[]> {
    const ids = await redisCall(() => this.redis.smembers(this.keys.jobs));
    return ids.sort();
  }

  /** Every job, as records or as the error that reading each one raised. */
  async list(): Promise<Array<JobRecord | Error>> {
    return readHashes(this.redis, await this.ids(), (id) => this.keys.job(id), jobFromHash);
  }

  /** When each of `ids` was last forwarded to (ISO-8601 UTC), as jobgate records it; never-used ids are absent. */
  async lastUsed(ids: readonly string[]): Promise<Map<string, string>> {
    const scores = await readScores(this.redis, this.keys.jobsLastUsed, ids);
    return new Map([...scores].map(([id, ms]) => [id, new Date(ms).toISOString()]));
  }

  async delete(id: string, now = new Date()): Promise<void> {
    assertJobId(id);
    const keys = [this.keys.job(id), this.keys.jobs, this.keys.events, this.keys.jobsLastUsed];
    const existed = await redisCall(() =>
      DELETE.run(this.redis, keys, [id, this.keys.channel, invalidation.job(id), ...eventFields('job.delete', id, this.actor, now)]),
    );
    if (existed !== 1) throw new NotFoundError(`job ${id} not found`);
  }
}
