import fc from 'fast-check';
import t from 'tap';
import { apiAudience, jobAudience } from '../../src/assertion/audience.js';
import { jobIdProblem } from '../../src/jobs/record.js';
import { check } from '../helpers/property.js';

/** Job ids as the store accepts them (DNS labels), short ones often so that they collide with hosts. */
const jobId = fc
  .string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')), minLength: 1, maxLength: 20 })
  .filter((id) => jobIdProblem(id) === undefined);
const port = fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined });
/** API hosts as JOBGATE_API_HOST accepts them: single labels included. */
const apiHost = fc.oneof(
  jobId,
  fc.domain().map((host) => host.toLowerCase()),
);
const scheme = fc.constantFrom('http' as const, 'https' as const);

t.test("an API audience never equals a job's, whatever the host and job id", async (t) => {
  check(
    fc.property(scheme, fc.uniqueArray(apiHost, { minLength: 1, maxLength: 3 }), jobId, port, (s, hosts, id, p) => {
      if (apiAudience(s, new Set(hosts)) === jobAudience(id, p)) throw new Error(`${apiAudience(s, new Set(hosts))} is also a job's audience`);
    }),
  );
  t.equal(apiAudience('https', new Set(['nb1'])), 'https://nb1', 'a single-label API host named like a job');
  t.equal(jobAudience('nb1', undefined), 'job:nb1');
});

t.test('each job and port has its own audience', async (t) => {
  check(
    fc.property(jobId, port, jobId, port, (a, p, b, q) => {
      if (jobAudience(a, p) === jobAudience(b, q) && (a !== b || p !== q))
        throw new Error(`job ${a} port ${p} and job ${b} port ${q} share ${jobAudience(a, p)}`);
    }),
  );
  // The host nb-8888 may name job "nb-8888" or port 8888 of job "nb": their audiences differ.
  t.not(jobAudience('nb-8888', undefined), jobAudience('nb', 8888));
  t.equal(jobAudience('nb', 8888), 'job:nb:8888');
});

t.test('the API audience names the first configured host, whichever the client used', async (t) => {
  t.equal(apiAudience('http', new Set(['api.example.com', 'api.internal'])), 'http://api.example.com');
});
