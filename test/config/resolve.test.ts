import t from 'tap';
import { loadSettings } from '../../src/config/load.js';
import { resolveSettings } from '../../src/config/resolve.js';
import { InputError } from '../../src/errors.js';

const resolve = (env: Record<string, string>) => resolveSettings(loadSettings({ env }));

t.test('what the settings imply: mode, API, forward-auth, Redis topology, keys', async (t) => {
  const gateway = await resolve({ JOBGATE_JOB_DOMAIN: 'job.test' });
  t.equal(gateway.mode.kind, 'gateway');
  t.equal(gateway.api, undefined, 'no API without JOBGATE_API_HOST');
  t.equal(gateway.forwardAuth, undefined, 'no decision endpoint without JOBGATE_AUTHZ_LISTEN');
  t.match(gateway.topology, { kind: 'standalone', keyPrefix: 'jobgate:' });
  t.ok(gateway.assertionKeys.ephemeral, 'a per-process assertion key without a configured one');
  t.ok(gateway.cookieKeys.ephemeral, 'a per-process cookie key without JOBGATE_COOKIE_SECRET');

  const sidecar = await resolve({ JOBGATE_SIDECAR_JOB: 'nb1', JOBGATE_SIDECAR_UPSTREAM: 'http://127.0.0.1:8888' });
  t.match(sidecar.mode, { kind: 'sidecar', jobId: 'nb1' });
  t.equal(sidecar.mode.kind === 'sidecar' && sidecar.mode.upstream.href, 'http://127.0.0.1:8888/');

  const full = await resolve({
    JOBGATE_JOB_DOMAIN: 'job.test',
    JOBGATE_API_HOST: 'API.test,api2.test',
    JOBGATE_API_UPSTREAM: 'http://127.0.0.1:9999',
    JOBGATE_AUTHZ_LISTEN: '127.0.0.1:9191',
    JOBGATE_AUTHZ_TRUSTED: '10.0.0.0/8',
    JOBGATE_COOKIE_SECRET: 'x'.repeat(32),
  });
  t.same([...(full.api?.hosts ?? [])], ['api.test', 'api2.test']);
  t.equal(full.api?.upstream.href, 'http://127.0.0.1:9999/');
  t.same(full.forwardAuth?.listen, { host: '127.0.0.1', port: 9191 });
  t.ok(full.forwardAuth?.trusted.has('10.1.2.3'), 'the trusted blocks, ready to ask');
  t.notOk(full.forwardAuth?.trusted.has('127.0.0.1'), 'only those configured');
  t.notOk(full.cookieKeys.ephemeral);
  t.equal(full.settings.apiUpstream, 'http://127.0.0.1:9999', 'the loaded settings come along');
});

t.test('settings that only make sense together are refused with exit-2 messages naming the setting', async (t) => {
  const cases: Array<[Record<string, string>, string]> = [
    [
      {},
      'invalid setting JOBGATE_JOB_DOMAIN: required in gateway mode; expected a DNS name such as job.example.com (or set JOBGATE_SIDECAR_JOB and JOBGATE_SIDECAR_UPSTREAM for sidecar mode)',
    ],
    [{ JOBGATE_SIDECAR_JOB: 'nb1' }, 'invalid setting JOBGATE_SIDECAR_UPSTREAM: required when JOBGATE_SIDECAR_JOB is set (sidecar mode)'],
    [{ JOBGATE_SIDECAR_UPSTREAM: 'http://x' }, 'invalid setting JOBGATE_SIDECAR_JOB: required when JOBGATE_SIDECAR_UPSTREAM is set (sidecar mode)'],
    [
      { JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_API_HOST: 'api.test' },
      'invalid setting JOBGATE_API_UPSTREAM: required when JOBGATE_API_HOST is set; expected an http:// or https:// URL',
    ],
    [{ JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_API_UPSTREAM: 'http://u' }, 'invalid setting JOBGATE_API_HOST: required when JOBGATE_API_UPSTREAM is set'],
    // The mode is checked first, then the API, then Redis, then the keys.
    [
      { JOBGATE_API_HOST: 'api.test', JOBGATE_REDIS_SENTINELS: 'a:1', JOBGATE_REDIS_CLUSTER_NODES: 'b:2' },
      'invalid setting JOBGATE_JOB_DOMAIN: required in gateway mode; expected a DNS name such as job.example.com (or set JOBGATE_SIDECAR_JOB and JOBGATE_SIDECAR_UPSTREAM for sidecar mode)',
    ],
    [
      { JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_REDIS_URL: 'redis://h/x' },
      'invalid setting JOBGATE_REDIS_URL: the path "/x" is not a database number; expected redis://host:port/<db>',
    ],
    [
      { JOBGATE_JOB_DOMAIN: 'job.test', JOBGATE_ASSERTION_KEYS: '{"kty":"EC"}' },
      'assertion key in JOBGATE_ASSERTION_KEYS: a JWK without "d" is a public key; jobgate needs the private key to sign',
    ],
  ];
  for (const [env, message] of cases) {
    await t.rejects(resolve(env), { constructor: InputError, message }, JSON.stringify(env));
  }
});
