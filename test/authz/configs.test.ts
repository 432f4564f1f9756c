import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { SETTINGS } from '../../src/config/settings.js';
import { at, obj, readRepoFile } from '../helpers/documents.js';

/**
 * The forward-auth examples. nginx's is run for real (nginx.test.ts); Traefik is not installed
 * here, so its files are parsed and their key fields checked.
 */

const IDENTITY_HEADERS = ['X-Jobgate-Token-Id', 'X-Jobgate-Token-Name', 'X-Jobgate-Role', 'X-Jobgate-Assertion'];
const KNOWN_ENV = new Set<string>(Object.values(SETTINGS).map((setting) => setting.env));

t.test('deploy/traefik/dynamic.yml', async (t) => {
  const dynamic = obj(parseYaml(readRepoFile('deploy/traefik/dynamic.yml')), 'dynamic.yml');
  const middlewares = obj(at(dynamic, 'http.middlewares'), 'http.middlewares');
  const routers = obj(at(dynamic, 'http.routers'), 'http.routers');
  const services = obj(at(dynamic, 'http.services'), 'http.services');

  const auth = Object.entries(middlewares).filter(([, middleware]) => at(middleware, 'forwardAuth') !== undefined);
  t.equal(auth.length, 1, 'one ForwardAuth middleware');
  const [authName, authMiddleware] = auth[0]!;
  const forwardAuth = obj(at(authMiddleware, 'forwardAuth'), 'forwardAuth');
  t.match(forwardAuth.address, /^http:\/\/127\.0\.0\.1:9191\/?$/, 'the decision endpoint (JOBGATE_AUTHZ_LISTEN)');
  t.equal(forwardAuth.trustForwardHeader, false, "Traefik sets X-Forwarded-* itself; a client's are not believed");
  t.same(
    forwardAuth.authResponseHeaders,
    [...IDENTITY_HEADERS, 'X-Request-Id'],
    "the identity headers, the assertion and jobgate's request id (not the client's) reach the job",
  );
  t.equal(forwardAuth.authRequestHeaders, undefined, 'every request header reaches jobgate (Sec-WebSocket-Key, Origin, Accept included)');

  const strip = Object.entries(middlewares).filter(([, middleware]) => at(middleware, 'headers.customRequestHeaders') !== undefined);
  t.equal(strip.length, 1, 'one headers middleware');
  const [stripName, stripMiddleware] = strip[0]!;
  t.same(at(stripMiddleware, 'headers.customRequestHeaders'), { Authorization: '' }, 'removes Authorization');

  const hostRegexp = (rule: string) => {
    const match = /HostRegexp\(`([^`]+)`\)/.exec(rule);
    return match ? new RegExp(match[1]!) : undefined;
  };
  const guarded = Object.entries(routers).filter(([, router]) => (at(router, 'middlewares') as string[] | undefined)?.includes(authName));
  t.ok(guarded.length > 0, 'job routers use the ForwardAuth middleware');
  let lowestGuardedPriority = Number.POSITIVE_INFINITY;
  for (const [name, router] of guarded) {
    t.same(at(router, 'middlewares'), [authName, stripName], `${name}: the decision first (it needs Authorization), then Authorization is removed`);
    t.ok(services[at(router, 'service') as string], `${name}: its service exists`);
    t.match(at(router, 'rule'), /^Host\(`[a-z0-9-]+\.job\.example\.com`\)$/, `${name}: a job host`);
    // Traefik's default priority is the rule's length.
    lowestGuardedPriority = Math.min(lowestGuardedPriority, (at(router, 'priority') as number | undefined) ?? String(at(router, 'rule')).length);
  }

  const toJobgate = Object.entries(routers).filter(([, router]) => at(router, 'service') === 'jobgate');
  const pages = toJobgate.find(([, router]) => String(at(router, 'rule')).includes('PathPrefix(`/__jobgate/`)'));
  t.ok(pages, 'a router sends /__jobgate/ to jobgate');
  t.equal(at(pages?.[1], 'middlewares'), undefined, '/__jobgate/ needs no decision');
  t.ok((at(pages?.[1], 'priority') as number) > lowestGuardedPriority, '/__jobgate/ wins over the job routers');
  const regexp = hostRegexp(String(at(pages?.[1], 'rule')));
  t.ok(regexp, 'a HostRegexp rule');
  for (const host of ['notebook.job.example.com', 'notebook-6006.job.example.com']) t.match(host, regexp!, `${host} matches`);
  for (const host of ['job.example.com', 'a.b.job.example.com', 'notebook.job.example.com.evil.test', 'x.jobxexample.com'])
    t.notMatch(host, regexp!, `${host} does not`);

  const catchAll = toJobgate.find(([, router]) => !String(at(router, 'rule')).includes('PathPrefix'));
  t.ok(catchAll, 'other job hosts go to jobgate itself');
  t.equal(at(catchAll?.[1], 'middlewares'), undefined, 'without stripping the token jobgate needs');
  t.ok((at(catchAll?.[1], 'priority') as number) < lowestGuardedPriority, 'below the job routers');
  t.match(at(services, 'jobgate.loadBalancer.servers'), [{ url: 'http://127.0.0.1:8080' }], 'jobgate: JOBGATE_LISTEN');

  const text = readRepoFile('deploy/traefik/dynamic.yml');
  t.match(text, /The host decided is the host routed on/, 'says which host jobgate decides on');
  t.match(text, /Never set trustForwardHeader: true/, 'and what would break it');
  t.match(text, /cannot remove one cookie/, 'says that Traefik cannot strip the session cookie');
  t.match(text, /__Host-jobgate/, 'and names it');
});

t.test('deploy/traefik/traefik.yml', async (t) => {
  const config = obj(parseYaml(readRepoFile('deploy/traefik/traefik.yml')), 'traefik.yml');
  t.equal(at(config, 'providers.file.filename'), '/etc/traefik/dynamic.yml');
  t.ok(at(config, 'entryPoints.websecure.address'), 'the entry point of the routers');
  t.equal(at(config, 'entryPoints.websecure.forwardedHeaders'), undefined, "clients' X-Forwarded-* are not trusted");
  t.equal(at(config, 'accessLog.fields.names.RequestPath'), 'drop', 'no query string (deep-link tokens) in the access log');
});

t.test('the examples and docs name real settings only', async (t) => {
  for (const file of ['deploy/nginx/jobgate.conf', 'deploy/traefik/dynamic.yml', 'deploy/traefik/traefik.yml', 'docs/forward-auth.md']) {
    const names = new Set(readRepoFile(file).match(/\bJOBGATE_[A-Z0-9_]+/g) ?? []);
    t.ok(names.has('JOBGATE_AUTHZ_LISTEN') || file.endsWith('traefik.yml'), `${file} names JOBGATE_AUTHZ_LISTEN`);
    for (const name of names) t.ok(KNOWN_ENV.has(name), `${file}: ${name} is a setting`);
  }
});

t.test('deploy/nginx/jobgate.conf passes the identity headers and strips the credential', async (t) => {
  const conf = readRepoFile('deploy/nginx/jobgate.conf');
  for (const header of IDENTITY_HEADERS) {
    const variable = header.toLowerCase().replaceAll('-', '_');
    t.match(conf, new RegExp(`auth_request_set \\$\\w+ \\$upstream_http_${variable};`), `${header}: read from the decision`);
    t.match(conf, new RegExp(`proxy_set_header ${header} \\$\\w+;`), `${header}: set for the upstream`);
  }
  t.match(conf, /auth_request \/__jobgate_authz;/);
  t.match(conf, /proxy_pass_request_body off;/);
  t.match(conf, /error_page 401 403 404 500 = @jobgate;/);
  t.match(conf, /location \/__jobgate\/ \{\s*proxy_pass http:\/\/jobgate;/);
  t.match(conf, /server_name ~\^\(\?<job>\[a-z0-9-\]\+\)\\\.job\\\.example\\\.com\$;/);
});

t.test("deploy/nginx/jobgate.conf decides on the host nginx routes on, never on the client's Host header", async (t) => {
  const conf = readRepoFile('deploy/nginx/jobgate.conf');
  const code = conf.replace(/#.*$/gm, '');
  const hostHeaders = [...code.matchAll(/proxy_set_header (Host|X-Forwarded-Host) (\S+);/g)];
  t.ok(hostHeaders.length >= 8, 'Host and X-Forwarded-Host are set for jobgate, its decision endpoint and the jobs');
  for (const [, name, value] of hostHeaders) t.equal(value, '$jobgate_host', `${name} $jobgate_host`);
  t.match(code, /map "\$host \$http_host" \$jobgate_host \{\s*default \$host;/, '$jobgate_host is $host, the host nginx routes on');
  t.equal(code.split('$http_host').length - 1, 2, '$http_host appears only beside $host, in the two maps');
  t.equal(code.match(/if \(\$jobgate_misdirected\) \{\s*return 400;\s*\}/g)?.length, 2, 'both servers refuse a Host unlike the request line');
  t.match(
    code,
    /map \$http_authorization \$jobgate_client_authorization \{[^}]*"~jgt_\[0-9a-f\]"\s+"";/,
    'an Authorization holding a jobgate token (cut short too) is emptied',
  );
  t.equal(code.match(/if \(\$jobgate_query_token\) \{\s*return 404;\s*\}/g)?.length, 2, 'both servers hand a query holding a token to jobgate');
  const apiServer = code.slice(code.indexOf('server_name api.example.com'));
  for (const name of ['X-HTTP-Method-Override', 'X-HTTP-Method', 'X-Method-Override', 'X-Original-URL', 'X-Rewrite-URL']) {
    t.match(apiServer, new RegExp(`proxy_set_header ${name} "";`), `the API upstream never sees ${name}`);
  }
});
