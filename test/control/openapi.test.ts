import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { bearer, request, type Reply } from '../helpers/http.js';
import { startHarness, type Harness } from '../helpers/jobgate.js';
import { Upstream } from '../helpers/upstream.js';

// GET /api/v1/openapi.json against the real answers: a recorded session of calls over every route,
// successes and refusals, each answer's status documented for its operation and its body valid
// against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 uses it).

const CONTROL = 'control.test';
const up = await Upstream.start('openapi-upstream');
const h: Harness = await startHarness({ JOBGATE_CONTROL_HOST: CONTROL, JOBGATE_LAST_USE_INTERVAL_MS: '1000' });
t.teardown(async () => {
  await h.close();
  await up.close();
});
const root = await h.tokens.create({ name: 'root', role: 'operator' });
const reader = await h.tokens.create({ name: 'reader', role: 'read' });
const scoped = await h.tokens.create({ name: 'scoped', role: 'operator', labelSelector: 'team=a' });

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly reply: Reply;
}
const recorded: Recorded[] = [];

async function call(method: string, path: string, options: { token?: string; body?: unknown; raw?: string; type?: string } = {}): Promise<Reply> {
  const text = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const reply = await request(h.url, {
    method,
    path,
    host: CONTROL,
    headers: {
      ...(options.token === undefined ? {} : bearer(options.token)),
      ...(text === undefined ? {} : { 'content-type': options.type ?? 'application/json' }),
    },
    ...(text === undefined ? {} : { body: text }),
  });
  recorded.push({ method, path, reply });
  return reply;
}

interface Operation {
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

/** The document's path template that `path` (without its query) fills in. */
function templateOf(document: OpenApi, path: string): string | undefined {
  const segments = path.split('?')[0]!.split('/');
  return Object.keys(document.paths).find((template) => {
    const parts = template.split('/');
    return parts.length === segments.length && parts.every((part, i) => part.startsWith('{') || part === segments[i]);
  });
}

t.test('the document describes every answer jobgate gives', async (t) => {
  const documentReply = await call('GET', '/api/v1/openapi.json', { token: root.value });
  t.equal(documentReply.status, 200);
  const document = documentReply.json<OpenApi>();
  t.equal(document.openapi, '3.1.0');

  // A session over every route: successes first, then refusals.
  await h.jobs.put({ id: 'nb', upstream: up.url, labels: { team: 'a' } });
  const made = (
    await call('POST', '/api/v1/tokens', { token: root.value, body: { name: 'ci', role: 'read', labelSelector: 'team=a', expiresAt: '2999-01-01T00:00:00Z' } })
  ).json<{
    id: string;
    status: { value: string };
  }>();
  await request(h.url, { host: 'nb.job.test', headers: bearer(made.status.value) });
  await call('GET', '/api/v1/tokens', { token: root.value });
  await call('GET', `/api/v1/tokens/${made.id}`, { token: root.value });
  await call('POST', `/api/v1/tokens/${made.id}/renew`, { token: root.value, body: { expiresAt: '2998-01-01T00:00:00Z' } });
  await call('POST', `/api/v1/tokens/${made.id}/renew`, { token: root.value });
  await call('PUT', '/api/v1/jobs/nb2', { token: root.value, body: { upstream: `${up.url}/2`, labels: { team: 'b' }, ports: { '8888': up.url } } });
  await call('PUT', '/api/v1/jobs/nb2', { token: root.value, body: { upstream: `${up.url}/2` } });
  await call('GET', '/api/v1/jobs?labelSelector=team%3Da', { token: root.value });
  await call('GET', '/api/v1/jobs/nb', { token: root.value });
  await call('GET', '/api/v1/events?limit=50', { token: root.value });
  await call('GET', '/api/v1/events', { token: scoped.value });
  await call('DELETE', '/api/v1/jobs/nb2', { token: root.value });
  await call('DELETE', `/api/v1/tokens/${made.id}`, { token: root.value });
  // Refusals.
  await call('GET', '/api/v1/tokens');
  await call('GET', '/api/v1/tokens', { token: `${root.value.slice(0, -8)}00000000` });
  await call('GET', '/api/v1/jobs', { token: reader.value });
  await call('GET', `/api/v1/tokens/${made.id}`, { token: root.value });
  await call('GET', '/api/v1/tokens/not-an-id', { token: root.value });
  await call('POST', '/api/v1/tokens', { token: root.value, body: { name: 'x', role: 'read', extra: true } });
  await call('POST', '/api/v1/tokens', { token: root.value, raw: 'name=x', type: 'text/plain' });
  await call('POST', '/api/v1/tokens', { token: root.value, body: { name: 'x', role: 'read', labelSelector: `a=${'b'.repeat(70_000)}` } });
  await call('PUT', '/api/v1/jobs/nb', { token: scoped.value, body: { upstream: up.url, labels: { team: 'b' } } });
  await call('GET', '/api/v1/jobs/nb2', { token: scoped.value });
  await call('GET', '/api/v1/events?after=x', { token: root.value });

  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const seen = new Set<string>();
  for (const { method, path, reply } of recorded) {
    const what = `${method} ${path.slice(0, 60)} → ${reply.status}`;
    const template = templateOf(document, path);
    const operation = template === undefined ? undefined : document.paths[template]?.[method.toLowerCase()];
    if (!t.ok(operation, `${what}: the operation is documented`)) continue;
    const response = operation!.responses[String(reply.status)];
    if (!t.ok(response, `${what}: its status is documented`)) continue;
    seen.add(`${method.toLowerCase()} ${template} ${reply.status}`);
    const schema = response!.content?.['application/json']?.schema;
    if (schema === undefined) {
      t.equal(reply.body, '', `${what}: no body, as documented`);
      continue;
    }
    t.match(reply.headers['content-type'], /^application\/json/, `${what}: JSON`);
    const validate = ajv.compile({ ...(schema as object), components: document.components });
    t.ok(validate(reply.json<unknown>()), `${what}: the body matches the schema ${JSON.stringify(validate.errors ?? [])}`);
  }
  // Every operation was exercised by at least one answer.
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const method of Object.keys(operations).filter((key) => key !== 'parameters')) {
      t.ok(
        [...seen].some((entry) => entry.startsWith(`${method} ${template} `)),
        `${method.toUpperCase()} ${template} was called`,
      );
    }
  }
});
