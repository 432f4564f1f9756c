import t from 'tap';
import { readRepoFile } from '../helpers/documents.js';
import { bearer, request } from '../helpers/http.js';
import { startHarness } from '../helpers/jobgate.js';
import { RedisServer } from '../helpers/redis.js';
import { Upstream } from '../helpers/upstream.js';

/** What the README tells a newcomer to type, checked against a real jobgate. */

const README = readRepoFile('README.md');

t.test('the README on another job domain: a Host under the configured domain reaches the job; under any other, 404', async (t) => {
  const advice = /`\*\.localhost` names resolve[\s\S]*?\n\n/.exec(README)?.[0] ?? '';
  const domain = /`JOBGATE_JOB_DOMAIN=([^`]+)`/.exec(advice)?.[1];
  const host = /-H "Host: ([^"]+)"/.exec(advice)?.[1];
  t.ok(domain && host, `the README names a domain and a Host header: ${JSON.stringify(advice)}`);
  if (!domain || !host) return;
  t.ok(host.endsWith(`.${domain}`), 'the Host it passes is under the domain it configures');
  const walkthroughDomain = /JOBGATE_JOB_DOMAIN=(\S+) npx jobgate serve/.exec(README)?.[1];
  t.equal(walkthroughDomain, 'job.localhost', 'the walk-through above it serves job.localhost');

  const redis = await RedisServer.start();
  const up = await Upstream.start('notebook');
  const configured = await startHarness({ JOBGATE_JOB_DOMAIN: domain }, redis);
  const walkthrough = await startHarness({ JOBGATE_JOB_DOMAIN: walkthroughDomain ?? '' }, redis);
  t.teardown(async () => {
    await configured.close();
    await walkthrough.close();
    await up.close();
    await redis.stop();
  });
  const jobId = host.slice(0, -domain.length - 1);
  const tokens = [];
  for (const h of [configured, walkthrough]) {
    await h.jobs.put({ id: jobId, upstream: up.url, labels: { team: 'a' } });
    tokens.push((await h.tokens.create({ name: 'alice', role: 'read', labelSelector: 'team=a' })).value);
  }

  const reached = await request(configured.url, { host, headers: bearer(tokens[0] ?? '') });
  t.equal(reached.status, 200, `with JOBGATE_JOB_DOMAIN=${domain}, Host: ${host} reaches the job`);
  t.equal(reached.json().name, 'notebook');
  const elsewhere = await request(walkthrough.url, { host, headers: bearer(tokens[1] ?? '') });
  t.equal(elsewhere.status, 404, `a jobgate serving ${walkthroughDomain} answers 404 for Host: ${host}, whatever the token`);
  t.match(elsewhere.json().message, walkthroughDomain ?? '', 'and names the domain it serves');
});
