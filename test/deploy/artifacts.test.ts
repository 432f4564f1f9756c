import t, { type Test } from 'tap';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { SETTINGS, type SettingName } from '../../src/config/settings.js';
import { at, isObj, list, obj, readRepoFile, str, type Obj } from '../helpers/documents.js';

/** Deployment artifacts are written and reviewed, not built here: these checks keep them honest. */

const MANIFESTS = ['deploy/kubernetes/sidecar.yaml', 'deploy/kubernetes/gateway.yaml'];
const COMPOSE = 'deploy/docker-compose.yml';

/** Settings arriving in another change, allowed in the manifests ahead of them. */
const COMING_SETTINGS = ['JOBGATE_COOKIE_SECRET', 'JOBGATE_PUBLIC_SCHEME'];
const KNOWN_ENV = new Set<string>([...Object.values(SETTINGS).map((setting) => setting.env), ...COMING_SETTINGS]);
const SETTING_BY_ENV = new Map<string, SettingName>((Object.keys(SETTINGS) as SettingName[]).map((name) => [SETTINGS[name].env, name]));

const METRICS = [
  'jobgate_requests_total',
  'jobgate_request_duration_seconds',
  'jobgate_cache_hits_total',
  'jobgate_cache_misses_total',
  'jobgate_redis_errors_total',
  'jobgate_redis_command_duration_seconds',
  'jobgate_websockets_open',
  'jobgate_websockets_revoked_total',
  'jobgate_invalidation_messages_total',
];

const isLoopback = (host: string): boolean => /^127\./.test(host) || host === '::1' || host === 'localhost';

interface Resource {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Obj;
}

function resources(file: string): Resource[] {
  return parseAllDocuments(readRepoFile(file)).flatMap((doc, index) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${index}: ${doc.errors[0]?.message}`);
    const body = doc.toJS() as unknown;
    if (body === null || body === undefined) return [];
    const mapping = obj(body, `${file} document ${index}`);
    return [{ file, kind: String(mapping.kind), name: String(at(mapping, 'metadata.name')), body: mapping }];
  });
}

function containersOf(deployment: Resource): Obj[] {
  return list(at(deployment.body, 'spec.template.spec.containers'), `${deployment.name} containers`).map((c) => obj(c, 'container'));
}

function jobgateContainer(deployment: Resource): Obj {
  const container = containersOf(deployment).find((c) => String(c.image).includes('jobgate'));
  if (!container) throw new Error(`${deployment.file}: no jobgate container`);
  return container;
}

/** Dockerfile instructions by stage, continuation lines joined, comments dropped. */
function dockerfileStages(text: string): string[][] {
  const instructions = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: string[][] = [];
  for (const line of instructions) {
    if (/^FROM\s/i.test(line)) stages.push([]);
    stages.at(-1)?.push(line);
  }
  return stages;
}

// ---- Dockerfile ----

t.test('Dockerfile', async (t) => {
  const text = readRepoFile('Dockerfile');
  const stages = dockerfileStages(text);
  t.ok(stages.length >= 2, 'multi-stage');
  const final = stages.at(-1) ?? [];
  const args = new Map([...text.matchAll(/^ARG\s+(\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
  const from = (final[0] ?? '').split(/\s+/)[1] ?? '';
  const image = from.replace(/^\$\{?(\w+)\}?$/, (_, name: string) => args.get(name) ?? name);
  t.match(image, /^node:\d+[\w.-]*-slim$/, `final stage FROM a node slim image (${image})`);
  const major = Number(/^node:(\d+)/.exec(image)?.[1]);
  t.ok(major >= 20 && major % 2 === 0, `an LTS major (${major})`);

  const users = final.filter((line) => /^USER\s/i.test(line)).map((line) => line.split(/\s+/)[1] ?? '');
  t.ok(users.length > 0, 'the final stage sets USER');
  const user = users.at(-1) ?? '';
  t.notMatch(user.split(':')[0] ?? '', /^(root|0)$/, `USER is not root (${user})`);

  t.ok(
    final.some((line) => /^RUN\s.*\bnpm ci\b.*--omit=dev\b/.test(line)),
    'final stage installs with npm ci --omit=dev',
  );
  t.notOk(
    final.some((line) => /^RUN\s.*\bnpm (ci|install)\b/.test(line) && !/--omit=dev\b/.test(line)),
    'no dev install in the final stage',
  );

  const exposed = final.filter((line) => /^EXPOSE\s/i.test(line)).flatMap((line) => line.split(/\s+/).slice(1));
  t.same(new Set(exposed), new Set(['8080', '9090']), 'EXPOSE 8080 9090');

  const healthcheck = final.find((line) => /^HEALTHCHECK\s/i.test(line)) ?? '';
  t.match(healthcheck, /\bCMD\b/, 'a HEALTHCHECK command');
  t.match(healthcheck, /\/healthz/, 'HEALTHCHECK hits /healthz');
  t.match(healthcheck, /:9090\//, 'on the admin port');
  const checked = /https?:\/\/([^/'"]+)\//.exec(healthcheck)?.[1] ?? '';
  const adminDefault = SETTINGS.adminListen.schema.parse(SETTINGS.adminListen.default) as { host: string; port: number };
  t.equal(checked, `${adminDefault.host}:${adminDefault.port}`, `HEALTHCHECK calls the default admin listener (${checked})`);
  t.ok(isLoopback(adminDefault.host), `the default admin listener is loopback (${adminDefault.host})`);

  const copies = final.filter((line) => /^(COPY|ADD)\s/i.test(line));
  for (const copy of copies) {
    const sources = copy
      .split(/\s+/)
      .slice(1, -1)
      .filter((word) => !word.startsWith('--'));
    for (const source of sources) {
      t.notMatch(source, /^(\.\/)?(test|src|\.git|\.env)(\/|$)|\.(pem|key)$/, `final stage does not copy ${source}`);
    }
  }
  t.ok(
    copies.some((line) => /--from=\w+\s+\S*dist\/?\s/.test(line)),
    'final stage copies dist/ from the builder',
  );
  t.match(final.find((line) => /^ENTRYPOINT\s/i.test(line)) ?? '', /"bin\/jobgate\.js"/, 'ENTRYPOINT runs bin/jobgate.js');
});

t.test('.dockerignore', async (t) => {
  const patterns = readRepoFile('.dockerignore')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const excluded = (name: string): boolean => {
    // Docker applies the last matching pattern; a plain name or `*` is enough for these.
    let result = false;
    for (const pattern of patterns) {
      const negated = pattern.startsWith('!');
      const body = pattern
        .replace(/^!/, '')
        .replace(/^\/|\/$/g, '')
        .replace(/^\*\*\//, '');
      if (body === '*' || body === name) result = !negated;
    }
    return result;
  };
  for (const name of ['node_modules', 'test', '.git', 'coverage', '.tap', '.env']) t.ok(excluded(name), `excludes ${name}`);
  for (const name of ['package.json', 'package-lock.json', 'src', 'bin', 'config']) t.notOk(excluded(name), `keeps ${name} for the build`);
});

// ---- Kubernetes ----

t.test('every Kubernetes document parses and has a kind and a name', async (t) => {
  for (const file of MANIFESTS) {
    const found = resources(file);
    t.ok(found.length > 0, `${file} has documents`);
    for (const resource of found) {
      t.ok(resource.kind && resource.kind !== 'undefined', `${file}: kind ${resource.kind}`);
      t.ok(resource.name && resource.name !== 'undefined', `${file}: ${resource.kind} has a name`);
      t.ok(typeof resource.body.apiVersion === 'string', `${file}: ${resource.kind}/${resource.name} has an apiVersion`);
    }
  }
});

/** A string value from a ConfigMap in `found`, or undefined. */
function configMapValue(found: readonly Resource[], name: unknown, key: unknown): string | undefined {
  const configMap = found.find((r) => r.kind === 'ConfigMap' && r.name === name);
  const value = isObj(configMap?.body.data) ? configMap.body.data[String(key)] : undefined;
  return value === undefined ? undefined : str(value, `ConfigMap ${String(name)} key ${String(key)}`);
}

/**
 * The admin listener the jobgate container ends up with: its env (a value, a ConfigMap key or
 * envFrom), else the --config file from a mounted ConfigMap, else the default.
 */
function adminListenOf(found: readonly Resource[], deployment: Resource): string {
  const container = jobgateContainer(deployment);
  const env = list(container.env ?? [], 'env').map((e) => obj(e, 'env entry'));
  const entry = env.find((e) => e.name === 'JOBGATE_ADMIN_LISTEN');
  if (entry)
    return str(
      entry.value ?? configMapValue(found, at(entry, 'valueFrom.configMapKeyRef.name'), at(entry, 'valueFrom.configMapKeyRef.key')),
      'the JOBGATE_ADMIN_LISTEN entry',
    );
  for (const source of list(container.envFrom ?? [], 'envFrom')) {
    const value = configMapValue(found, at(source, 'configMapRef.name'), 'JOBGATE_ADMIN_LISTEN');
    if (value !== undefined) return value;
  }
  const args = list(container.args ?? [], 'args').map(String);
  const configPath = args.includes('--config') ? args[args.indexOf('--config') + 1] : undefined;
  if (configPath) {
    const mounts = list(container.volumeMounts ?? [], 'volumeMounts').map((m) => obj(m, 'mount'));
    const mount = mounts.find((m) => configPath.startsWith(`${String(m.mountPath)}/`));
    const volume = list(at(deployment.body, 'spec.template.spec.volumes') ?? [], 'volumes')
      .map((v) => obj(v, 'volume'))
      .find((v) => v.name === mount?.name);
    const fileName = configPath.slice(String(mount?.mountPath).length + 1);
    const item = list(at(volume, 'configMap.items') ?? [{ key: fileName, path: fileName }], 'items')
      .map((i) => obj(i, 'item'))
      .find((i) => i.path === fileName);
    const file = parseYaml(configMapValue(found, at(volume, 'configMap.name'), item?.key) ?? '') as unknown;
    if (isObj(file) && file.adminListen !== undefined) return str(file.adminListen, `adminListen in ${configPath}`);
  }
  return String(SETTINGS.adminListen.default);
}

/** Whether a NetworkPolicy ingress rule covers `port` (no ports list covers them all). */
function coversPort(rule: Obj, port: number, portName: string): boolean {
  if (rule.ports === undefined) return true;
  return list(rule.ports, 'rule ports').some((p) => at(p, 'port') === port || at(p, 'port') === portName);
}

const MONITORING_NAMESPACE = { 'kubernetes.io/metadata.name': 'monitoring' };

/**
 * The NetworkPolicies that select the jobgate pods: port 8080 open, port 9090 (/metrics,
 * /readyz) open only to the monitoring namespace, by the label Kubernetes sets on namespaces.
 */
function checkAdminPolicy(t: Test, found: readonly Resource[], deployment: Resource): void {
  const podLabels = obj(at(deployment.body, 'spec.template.metadata.labels'), 'pod labels');
  const policies = found.filter((r) => {
    if (r.kind !== 'NetworkPolicy') return false;
    const selector = at(r.body, 'spec.podSelector.matchLabels');
    return isObj(selector) && Object.entries(selector).every(([key, value]) => podLabels[key] === value);
  });
  t.ok(policies.length > 0, `${deployment.file}: a NetworkPolicy selects the jobgate pods`);
  const rules = policies.flatMap((policy) => list(at(policy.body, 'spec.ingress') ?? [], 'ingress').map((rule) => obj(rule, 'ingress rule')));
  t.ok(
    rules.some((rule) => coversPort(rule, 8080, 'proxy')),
    'port 8080 (job URLs) is admitted',
  );
  const adminRules = rules.filter((rule) => coversPort(rule, 9090, 'admin'));
  t.ok(adminRules.length > 0, 'port 9090 is admitted to someone (Prometheus)');
  for (const rule of adminRules) {
    const from = list(rule.from ?? [], 'from').map((peer) => obj(peer, 'peer'));
    t.ok(from.length > 0, 'a rule admitting port 9090 names its sources (none means everyone)');
    for (const peer of from) {
      t.same(peer, { namespaceSelector: { matchLabels: MONITORING_NAMESPACE } }, 'port 9090 only from the monitoring namespace');
    }
  }
}

function checkJobgateContainer(t: Test, deployment: Resource, found: readonly Resource[]): void {
  const container = jobgateContainer(deployment);
  const adminListen = SETTINGS.adminListen.schema.safeParse(adminListenOf(found, deployment));
  t.ok(adminListen.success, 'the admin listener setting is valid');
  const admin = adminListen.data;
  t.ok(admin && !isLoopback(admin.host), `the admin listener is set off loopback, for the kubelet's probes on the pod IP (${admin?.host})`);
  t.equal(admin?.port, 9090, 'on port 9090');
  checkAdminPolicy(t, found, deployment);
  t.equal(at(container, 'readinessProbe.httpGet.path'), '/readyz', 'readiness on /readyz');
  t.equal(at(container, 'readinessProbe.httpGet.port'), 9090, 'readiness on port 9090');
  t.equal(at(container, 'livenessProbe.httpGet.path'), '/healthz', 'liveness on /healthz');
  t.equal(at(container, 'livenessProbe.httpGet.port'), 9090, 'liveness on port 9090');
  const podNonRoot = at(deployment.body, 'spec.template.spec.securityContext.runAsNonRoot');
  t.ok(at(container, 'securityContext.runAsNonRoot') === true || podNonRoot === true, 'runAsNonRoot');
  t.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true, 'readOnlyRootFilesystem');
  t.equal(at(container, 'securityContext.allowPrivilegeEscalation'), false, 'allowPrivilegeEscalation false');
  t.same(at(container, 'securityContext.capabilities.drop'), ['ALL'], 'drops all capabilities');
  for (const path of ['resources.requests.cpu', 'resources.requests.memory', 'resources.limits.cpu', 'resources.limits.memory']) {
    t.ok(at(container, path) !== undefined, `sets ${path}`);
  }
  const env = list(container.env ?? [], 'env').map((entry) => obj(entry, 'env entry'));
  for (const name of ['JOBGATE_REDIS_URL', 'JOBGATE_COOKIE_SECRET']) {
    const entry = env.find((e) => e.name === name);
    t.ok(at(entry, 'valueFrom.secretKeyRef.name'), `${name} comes from a Secret`);
  }
}

t.test('sidecar manifest', async (t) => {
  const found = resources('deploy/kubernetes/sidecar.yaml');
  const deployments = found.filter((r) => r.kind === 'Deployment');
  t.equal(deployments.length, 1, 'one Deployment');
  const deployment = deployments[0];
  if (!deployment) return;
  t.equal(containersOf(deployment).length, 2, 'two containers: jobgate and the job');
  checkJobgateContainer(t, deployment, found);

  const configMap = found.find((r) => r.kind === 'ConfigMap');
  const data = obj(configMap?.body.data, 'sidecar ConfigMap data');
  const container = jobgateContainer(deployment);
  const fromConfigMap = list(container.envFrom ?? [], 'envFrom').some((e) => at(e, 'configMapRef.name') === configMap?.name);
  t.ok(fromConfigMap, 'settings come from the ConfigMap');
  t.equal(data.JOBGATE_SIDECAR_UPSTREAM, 'http://127.0.0.1:8888', 'the job is on loopback');
  t.ok(data.JOBGATE_SIDECAR_JOB, 'names the sidecar job');
  t.notOk(
    Object.keys(data).some((key) => /REDIS_URL|SECRET/.test(key)),
    'no secret in the ConfigMap',
  );

  const job = containersOf(deployment).find((c) => c !== container);
  t.notOk(job?.ports, 'the job container declares no port');
  t.ok(
    list(job?.args ?? [], 'job args').some((arg) => String(arg) === '--ServerApp.ip=127.0.0.1'),
    'the job listens on 127.0.0.1',
  );

  const service = found.find((r) => r.kind === 'Service');
  const ports = list(at(service?.body, 'spec.ports'), 'Service ports').map((p) => obj(p, 'port'));
  t.same(
    ports.map((p) => [p.port, p.targetPort]),
    [[80, 'proxy']],
    'the Service sends port 80 to jobgate only',
  );
  const proxyPort = list(container.ports, 'ports').find((p) => at(p, 'name') === 'proxy');
  t.equal(at(proxyPort, 'containerPort'), 8080, '"proxy" is jobgate 8080');
});

t.test('gateway manifest', async (t) => {
  const found = resources('deploy/kubernetes/gateway.yaml');
  const deployment = found.find((r) => r.kind === 'Deployment');
  if (!deployment) throw new Error('no Deployment');
  t.equal(at(deployment.body, 'spec.replicas'), 2, 'two replicas');
  checkJobgateContainer(t, deployment, found);
  t.ok(
    found.some((r) => r.kind === 'Service'),
    'a Service',
  );
  t.ok(
    found.some((r) => r.kind === 'PodDisruptionBudget'),
    'a PodDisruptionBudget',
  );

  const container = jobgateContainer(deployment);
  const args = list(container.args, 'args').map(String);
  const configPath = args[args.indexOf('--config') + 1];
  t.ok(args.includes('--config') && configPath, '--config is passed');
  t.equal(args.at(-1), 'serve', 'runs serve');

  const configMap = found.find((r) => r.kind === 'ConfigMap');
  const data = obj(configMap?.body.data, 'gateway ConfigMap data');
  const env = list(container.env, 'env').map((e) => obj(e, 'env entry'));
  const domain = env.find((e) => e.name === 'JOBGATE_JOB_DOMAIN');
  t.equal(at(domain, 'valueFrom.configMapKeyRef.name'), configMap?.name, 'JOBGATE_JOB_DOMAIN from the ConfigMap');
  t.ok(data[String(at(domain, 'valueFrom.configMapKeyRef.key'))], 'and the key exists');

  // The mounted file: every key a setting, every value accepted (an unknown key stops start-up).
  const mount = list(container.volumeMounts, 'volumeMounts')
    .map((m) => obj(m, 'mount'))
    .find((m) => configPath?.startsWith(`${String(m.mountPath)}/`));
  t.ok(mount, 'the config file is on a mounted volume');
  const volume = list(at(deployment.body, 'spec.template.spec.volumes'), 'volumes')
    .map((v) => obj(v, 'volume'))
    .find((v) => v.name === mount?.name);
  t.equal(at(volume, 'configMap.name'), configMap?.name, 'from the ConfigMap');
  const fileName = configPath?.slice(String(mount?.mountPath).length + 1) ?? '';
  const item = list(at(volume, 'configMap.items') ?? [{ key: fileName, path: fileName }], 'items')
    .map((i) => obj(i, 'item'))
    .find((i) => i.path === fileName);
  const file = obj(parseYaml(String(data[String(item?.key)])), 'config file');
  t.equal(file.trustedHops, 1, 'trustedHops: 1 behind the TLS-terminating proxy');
  for (const [key, value] of Object.entries(file)) {
    t.ok(Object.hasOwn(SETTINGS, key), `config file key ${key} is a setting`);
    if (!Object.hasOwn(SETTINGS, key)) continue;
    const schema = SETTINGS[key as SettingName].schema;
    t.ok(schema.safeParse(value).success, `config file value ${key}: ${JSON.stringify(value)} is accepted`);
  }
});

t.test('every JOBGATE_* name in the manifests and the compose file is a setting', async (t) => {
  for (const file of [...MANIFESTS, COMPOSE]) {
    const names = new Set([...readRepoFile(file).matchAll(/\bJOBGATE_[A-Z0-9_]+\b/g)].map((m) => m[0]));
    t.ok(names.size > 0, `${file} sets JOBGATE_* variables`);
    for (const name of names) t.ok(KNOWN_ENV.has(name), `${file}: ${name} is a setting`);
  }
});

t.test('literal JOBGATE_* values in the manifests and the compose file are accepted', async (t) => {
  const literal = (name: string, value: unknown, where: string) => {
    const setting = SETTING_BY_ENV.get(name);
    if (!setting || typeof value !== 'string') return;
    t.ok(SETTINGS[setting].schema.safeParse(value).success, `${where}: ${name}=${JSON.stringify(value)} is accepted`);
  };
  for (const file of MANIFESTS) {
    for (const resource of resources(file)) {
      if (resource.kind === 'ConfigMap') {
        for (const [key, value] of Object.entries(obj(resource.body.data ?? {}, 'data'))) literal(key, value, `${file} ConfigMap`);
      }
      if (resource.kind === 'Deployment') {
        for (const container of containersOf(resource)) {
          for (const entry of list(container.env ?? [], 'env')) literal(String(at(entry, 'name')), at(entry, 'value'), `${file} env`);
        }
      }
    }
  }
  const compose = obj(parseYaml(readRepoFile(COMPOSE)), 'compose file');
  for (const [name, service] of Object.entries(obj(compose.services, 'services'))) {
    for (const [key, value] of Object.entries(obj(at(service, 'environment') ?? {}, 'environment'))) {
      literal(key, value, `${COMPOSE} ${name}`);
    }
  }
});

// ---- Compose ----

t.test('compose stack', async (t) => {
  const compose = obj(parseYaml(readRepoFile(COMPOSE)), 'compose file');
  const services = obj(compose.services, 'services');
  for (const name of ['redis', 'jobgate', 'seed']) t.ok(services[name], `has ${name}`);
  t.equal(at(services.redis, 'image'), 'redis:7-alpine', 'redis:7-alpine');
  t.equal(at(services.jobgate, 'environment.JOBGATE_JOB_DOMAIN'), 'job.localhost', 'gateway mode on job.localhost');
  t.equal(at(services.jobgate, 'image'), at(services.seed, 'image'), 'seed uses the jobgate image');
  t.ok(at(services.jobgate, 'build'), 'jobgate is built from the Dockerfile');
  const seed = list(at(services.seed, 'command'), 'seed command').map(String);
  t.same(seed.slice(0, 2), ['job', 'put'], 'seed runs job put');
  const upstream = seed[seed.indexOf('--upstream') + 1] ?? '';
  const jobService = new URL(upstream).hostname;
  t.ok(services[jobService], `the upstream ${upstream} is a compose service`);
  t.notOk(at(services[jobService], 'ports'), 'the job publishes no port');
  t.equal(at(services.jobgate, 'read_only'), true, 'jobgate runs with a read-only root filesystem');
  const published = list(at(services.jobgate, 'ports') ?? [], 'jobgate ports').map(String);
  const adminPublished = published.find((p) => p.endsWith(':9090'));
  t.ok(adminPublished?.startsWith('127.0.0.1:'), `the admin port is published on the host's loopback only (${adminPublished})`);
  const adminListen = str(at(services.jobgate, 'environment.JOBGATE_ADMIN_LISTEN') ?? SETTINGS.adminListen.default, 'JOBGATE_ADMIN_LISTEN in the compose file');
  t.match(adminListen, /^(0\.0\.0\.0|\[::\]):9090$/, `JOBGATE_ADMIN_LISTEN takes the published port off the container's loopback (${adminListen})`);
});

// ---- Grafana ----

t.test('Grafana dashboard', async (t) => {
  const text = readRepoFile('deploy/grafana/jobgate-dashboard.json');
  const dashboard = obj(JSON.parse(text), 'dashboard');
  t.equal(dashboard.schemaVersion, 39, 'schemaVersion 39');
  const variables = list(at(dashboard, 'templating.list'), 'templating').map((v) => obj(v, 'variable'));
  const datasource = variables.find((v) => v.name === 'datasource');
  t.equal(datasource?.type, 'datasource', 'a datasource variable');
  t.equal(datasource?.query, 'prometheus', 'of Prometheus data sources');

  const panels = list(dashboard.panels, 'panels').map((p) => obj(p, 'panel'));
  const exprs = panels.flatMap((panel) => list(panel.targets ?? [], 'targets').map((target) => String(at(target, 'expr'))));
  for (const metric of METRICS) {
    t.ok(
      exprs.some((expr) => new RegExp(`\\b${metric}(_bucket)?\\b`).test(expr)),
      `a panel queries ${metric}`,
    );
  }
  for (const metric of ['jobgate_request_duration_seconds', 'jobgate_redis_command_duration_seconds']) {
    t.ok(
      exprs.some((expr) => expr.includes('histogram_quantile(0.99') && expr.includes(`${metric}_bucket`)),
      `p99 of ${metric}`,
    );
  }
  for (const panel of panels.filter((p) => p.type !== 'row')) {
    t.equal(at(panel, 'datasource.uid'), '${datasource}', `panel "${String(panel.title)}" uses the datasource variable`);
  }
  const ids = panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});
