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

// Lua: whether the record KEYS[1] is what the caller read (ARGV[expect] and ARGV[expect + 1], see
// ExpectedJob): '' expects nothing; 'absent', no record; 'labels', a record whose labels are the
// JSON object given (compared as maps, so a hand-written record's spacing or order does not count).
const EXPECT_LUA = `
local function sameLabels(text, expected)
  if text == '' then text = '{}' end
  local ok, found = pcall(cjson.decode, text)
  local wanted = cjson.decode(expected)
  if not ok or type(found) ~= 'table' then return false end
  for k, v in pairs(found) do if wanted[k] ~= v then return false end end
  for k, v in pairs(wanted) do if found[k] ~= v then return false end end
  return true
end
local function unexpected(expect)
  if ARGV[expect] == 'absent' then return redis.call('EXISTS', KEYS[1]) == 1 end
  if ARGV[expect] ~= 'labels' then return false end
  local found = redis.pcall('HGET', KEYS[1], 'labels')
  return type(found) ~= 'string' or not sameLabels(found, ARGV[expect + 1])
end
`;

// KEYS: job hash, job index, audit stream, then the hashes whose existence would make a host name
// mean two things: the job that `id` reads as `<job>-<port>` of (when it has that shape), then job
// `<id>-<port>` for every port of the new job. ARGV: id, now, channel, message, the port of id's
// reading ('' for none), the number of ports n, the number of audit event fields m, the expected
// record (two values, see EXPECT_LUA), the m fields, the n ports, then field/value pairs. Refuses,
// writing nothing, when the record is not the one expected ("changed"), or when a host name would
// mean two things ("port:<port>" or "job:<port>"); otherwise replaces the hash whole, keeps the
// first createdAt, indexes and announces the job, and records the event. A record that cannot be
// read counts as a collision: fail closed.
const PUT = new LuaScript(`${AUDIT_LUA}${EXPECT_LUA}
local wrong = misfit(KEYS[3], 'stream', KEYS[2], 'set')
if wrong then return wrong end
if unexpected(8) then return 'changed' end
local portCount = tonumber(ARGV[6])
local eventEnd = 9 + tonumber(ARGV[7])
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
audit(KEYS[3], 10, eventEnd)
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: job hash, job index, audit stream, last-use set. ARGV: id, channel, message, the expected
// record (two values, see EXPECT_LUA), then the audit event's fields. Returns "changed" (deleting
// nothing) when the record is not the one expected, else 1 when it existed (and only then records
// the event).
const DELETE = new LuaScript(`${AUDIT_LUA}${EXPECT_LUA}
local wrong = misfit(KEYS[3], 'stream', KEYS[2], 'set', KEYS[4], 'zset')
if wrong then return wrong end
if unexpected(4) then return 'changed' end
local labels = fields(KEYS[1], 'labels')[1]
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
if existed == 1 then audit(KEYS[3], 6, #ARGV, 'labels', labels) end
return existed
`);

/**
 * What a conditional write expects of the job it replaces or deletes, as its caller read it: no
 * record (null), or a record with these labels (without `jobgate/id`). Undefined: no condition.
 */
export type ExpectedJob = Readonly<Record<string, string>> | null | undefined;

/** A conditional write found the job changed since its caller read it: nothing was written. */
export class JobChangedError extends Error {
  override readonly name = 'JobChangedError';
}

function expectation(expected: ExpectedJob): [string, string] {
  if (expected === undefined) return ['', ''];
  return expected === null ? ['absent', ''] : ['labels', JSON.stringify(expected)];
}

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
   * With `expected`, the write happens only if the record is still as its caller read it
   * (JobChangedError otherwise): a check made on that read holds for the write.
   */
  async put(spec: JobSpec, now = new Date(), expected?: ExpectedJob): Promise<JobRecord> {
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
      ...expectation(expected),
      ...event,
      ...ports,
      ...fields,
    ];
    const reply = await redisCall(() => PUT.run(this.redis, keys, args));
    if (reply === 'changed') throw new JobChangedError(`job ${spec.id} changed while it was being written`);
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

  /** Deletes a job; with `expected`, only if the record is still as its caller read it (JobChangedError otherwise). */
  async delete(id: string, now = new Date(), expected?: ExpectedJob): Promise<void> {
    assertJobId(id);
    const keys = [this.keys.job(id), this.keys.jobs, this.keys.events, this.keys.jobsLastUsed];
    const existed = await redisCall(() =>
      DELETE.run(this.redis, keys, [id, this.keys.channel, invalidation.job(id), ...expectation(expected), ...eventFields('job.delete', id, this.actor, now)]),
    );
    if (existed === 'changed') throw new JobChangedError(`job ${id} changed while it was being deleted`);
    if (existed !== 1) throw new NotFoundError(`job ${id} not found`);
  }
}
