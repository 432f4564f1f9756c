import type { RedisClient } from '../redis/connect.js';
import { InputError, NotFoundError } from '../errors.js';
import { invalidation, type KeySpace } from '../redis/keys.js';
import { LuaScript, pairsToObject, redisCall, readHash, readHashes } from '../redis/index.js';
import { jobFromHash, jobIdProblem, MAX_LABELS, portProblem, upstreamProblem, userLabelProblem, type JobRecord } from './record.js';

/** What `job put` writes: the whole job, replacing any previous one with this id. */
export interface JobSpec {
  readonly id: string;
  readonly upstream: string;
  readonly ports?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  readonly unsecureHttp?: boolean;
}

// KEYS: job hash, job index. ARGV: id, now, channel, message, then field/value pairs.
// Replaces the hash whole, keeps the first createdAt, indexes and announces the job.
const PUT = new LuaScript(`
local createdAt = redis.call('HGET', KEYS[1], 'createdAt') or ARGV[2]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'createdAt', createdAt, 'updatedAt', ARGV[2], unpack(ARGV, 5))
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return redis.call('HGETALL', KEYS[1])
`);

// KEYS: job hash, job index. ARGV: id, channel, message. Returns 1 when it existed.
const DELETE = new LuaScript(`
local existed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return existed
`);

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

/** Job records in Redis: every change is one atomic script. */
export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
  ) {}

  /** Creates or replaces a job. */
  async put(spec: JobSpec, now = new Date()): Promise<JobRecord> {
    validateJobSpec(spec);
    const key = this.keys.job(spec.id);
    const fields = [
      'id',
      spec.id,
      'labels',
      JSON.stringify(spec.labels ?? {}),
      'upstream',
      new URL(spec.upstream).href,
      'ports',
      JSON.stringify(Object.fromEntries(Object.entries(spec.ports ?? {}).map(([port, url]) => [port, new URL(url).href]))),
      'unsecureHttp',
      String(spec.unsecureHttp ?? false),
    ];
    const reply = await redisCall(() =>
      PUT.run(this.redis, [key, this.keys.jobs], [spec.id, now.toISOString(), this.keys.channel, invalidation.job(spec.id), ...fields]),
    );
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


  async delete(id: string): Promise<void> {
    assertJobId(id);
    const existed = await redisCall(() => DELETE.run(this.redis, [this.keys.job(id), this.keys.jobs], [id, this.keys.channel, invalidation.job(id)]));
    if (existed !== 1) throw new NotFoundError(`job ${id} not found`);
  }
}
