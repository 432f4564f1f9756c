import t from 'tap';
import { portReading } from '../../src/jobs/port-label.js';
import { HostRouter } from '../../src/routing/host.js';

const router = new HostRouter('job.example.com');

t.test('a job id under the job domain', async (t) => {
  t.same(router.route('nb1.job.example.com'), { label: 'nb1', portReading: undefined });
  t.same(router.route('NB1.Job.Example.COM'), { label: 'nb1', portReading: undefined }, 'case-insensitive');
  t.same(router.route('nb1.job.example.com.'), { label: 'nb1', portReading: undefined }, 'trailing dot');
  t.same(router.route('nb1.job.example.com:8080'), { label: 'nb1', portReading: undefined }, 'a port in Host is ignored');
});

t.test('a <job-id>-<port> label has both readings', async (t) => {
  t.same(router.route('my-job-8888.job.example.com'), { label: 'my-job-8888', portReading: { jobId: 'my-job', port: 8888 } });
  t.same(router.route('a-1.job.example.com'), { label: 'a-1', portReading: { jobId: 'a', port: 1 } });
  t.same(router.route('a-65535.job.example.com')?.portReading, { jobId: 'a', port: 65535 });
});

t.test('labels that are not port readings', async (t) => {
  for (const label of ['a-65536', 'a-0', 'a-08080', 'a-123456', 'a-b', '-8080', 'nb1']) {
    t.equal(router.route(`${label}.job.example.com`)?.portReading, undefined, label);
  }
});

t.test('hosts outside the job domain', async (t) => {
  for (const host of [
    undefined,
    '',
    'job.example.com',
    '.job.example.com',
    'nb1.other.com',
    'nb1.job.example.com.evil.com',
    'a.b.job.example.com',
    'nb1xjob.example.com',
    'nb_1.job.example.com',
    '-nb1.job.example.com',
    `${'a'.repeat(64)}.job.example.com`,
    '[::1]:8080',
    'x'.repeat(400),
  ]) {
    t.equal(router.route(host), undefined, String(host));
  }
});

t.test('a label has at most one port reading: the digits after the last "-" (what job put checks for collisions)', async (t) => {
  t.same(portReading('a-b-80'), { jobId: 'a-b', port: 80 });
  t.same(portReading('nb-8888'), { jobId: 'nb', port: 8888 });
  t.equal(portReading('nb-8888-x'), undefined);
  t.equal(portReading('nb'), undefined);
});

t.test('Cases found by mutation testing', async (t) => {
  t.test('a Host header of up to 300 characters is read; a longer one is outside the job domain', async (t) => {
    // The port is ignored whatever its length, which makes a long but valid Host header easy to build.
    const host = (length: number) => `nb1.job.example.com:${'8'.repeat(length - 'nb1.job.example.com:'.length)}`;
    t.equal(host(300).length, 300);
    t.same(router.route(host(300)), { label: 'nb1', portReading: undefined }, '300 characters');
    t.equal(router.route(host(301)), undefined, '301 characters');
  });
});
