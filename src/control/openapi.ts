/**
 * The OpenAPI 3.1 description of the control API, served at GET /api/v1/openapi.json.
 * test/control/openapi.test.ts validates the answers of a real jobgate against it.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('Error')) });

const ERRORS = {
  '400': error('Bad input: an unknown field, a wrong type, an invalid id, name, selector or label, a malformed body.'),
  '401': error('No token, or an unknown, malformed or renewed one (with the RFC 6750 WWW-Authenticate challenge).'),
  '403': error("insufficient_scope: a read token, or outside the operator token's label selector."),
  '404': error("Not found, or outside the operator token's label selector (never told apart)."),
  '429': error('Too many failed authentications from this address.'),
  '503': error('Redis cannot be reached.'),
};
const CONFLICT = error("conflict: a scoped caller's job kept changing while its call was checked; try again.");
const BODY_ERRORS = {
  ...ERRORS,
  '413': error('The body is larger than 64 KiB.'),
  '415': error('The body is not application/json in UTF-8.'),
};

const idParameter = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: { type: 'string' } });
const timestamp = { type: 'string', format: 'date-time' };
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };

export const OPENAPI_DOCUMENT = Object.freeze({
  openapi: '3.1.0',
  info: {
    title: 'jobgate control API',
    version: '1',
    description:
      'Tokens, jobs and the audit trail of one jobgate installation, for operator tokens. A scoped operator token sees and changes only what lies within its label selector. Served on JOBGATE_CONTROL_HOST; see docs/control-api.md.',
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/v1/tokens': {
      get: {
        summary: "The tokens within the caller's scope (never their values)",
        responses: { '200': { description: 'Tokens', content: json({ type: 'array', items: ref('Token') }) }, ...ERRORS },
      },
      post: {
        summary: "Creates a token; its selector is the requested one ANDed with the caller's",
        requestBody: { required: true, content: json(ref('TokenRequest')) },
        responses: { '201': { description: 'The token, with status.value: the only time it is shown', content: json(ref('Token')) }, ...BODY_ERRORS },
      },
    },
    '/api/v1/tokens/{id}': {
      parameters: [idParameter('The token id (a lowercase UUID)')],
      get: { summary: 'One token', responses: { '200': { description: 'The token', content: json(ref('Token')) }, ...ERRORS } },
      delete: { summary: 'Revokes a token', responses: { '204': { description: 'Deleted' }, ...ERRORS } },
    },
    '/api/v1/tokens/{id}/renew': {
      parameters: [idParameter('The token id (a lowercase UUID)')],
      post: {
        summary: 'A new value for the token: same id, name and selector, version + 1; the old value stops working',
        requestBody: {
          required: false,
          content: json({
            type: 'object',
            additionalProperties: false,
            properties: { expiresAt: { type: 'string', format: 'date-time', description: 'A new expiry; absent: the token keeps its own' } },
          }),
        },
        responses: { '200': { description: 'The token, with its new status.value', content: json(ref('Token')) }, ...BODY_ERRORS },
      },
    },
    '/api/v1/jobs': {
      get: {
        summary: "The jobs within the caller's scope",
        parameters: [{ name: 'labelSelector', in: 'query', required: false, description: 'Only the jobs this selector matches', schema: { type: 'string' } }],
        responses: { '200': { description: 'Jobs', content: json({ type: 'array', items: ref('Job') }) }, ...ERRORS },
      },
    },
    '/api/v1/jobs/{id}': {
      parameters: [idParameter('The job id (a DNS label)')],
      get: { summary: 'One job', responses: { '200': { description: 'The job', content: json(ref('Job')) }, ...ERRORS } },
      put: {
        summary: "Creates or replaces a job (a scoped caller's scope adds its equality labels)",
        requestBody: { required: true, content: json(ref('JobSpec')) },
        responses: {
          '200': { description: 'Replaced', content: json(ref('Job')) },
          '201': { description: 'Created', content: json(ref('Job')) },
          ...BODY_ERRORS,
          '409': CONFLICT,
        },
      },
      delete: { summary: 'Deletes a job', responses: { '204': { description: 'Deleted' }, ...ERRORS, '409': CONFLICT } },
    },
    '/api/v1/events': {
      get: {
        summary: 'The audit trail, oldest first (a scoped caller sees events about what lies within its scope)',
        parameters: [
          { name: 'after', in: 'query', required: false, description: 'Only events after this event id', schema: { type: 'string', pattern: '^\\d+-\\d+$' } },
          {
            name: 'limit',
            in: 'query',
            required: false,
            description: 'At most this many events (default 100)',
            schema: { type: 'integer', minimum: 1, maximum: 1000 },
          },
        ],
        responses: { '200': { description: 'Events', content: json({ type: 'array', items: ref('Event') }) }, ...ERRORS },
      },
    },
    '/api/v1/openapi.json': {
      get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) }, ...ERRORS } },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An operator token' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['error', 'message'],
        additionalProperties: false,
        properties: { error: { type: 'string' }, message: { type: 'string' } },
      },
      TokenRequest: {
        type: 'object',
        required: ['name', 'role'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 128 },
          role: { enum: ['read', 'operator'] },
          labelSelector: { type: 'string', description: 'A Kubernetes label selector; empty or absent: every job within the caller’s scope' },
          expiresAt: { type: 'string', format: 'date-time', description: 'RFC 3339, in the future; absent: the token never expires' },
        },
      },
      Token: {
        type: 'object',
        required: ['id', 'createdAt', 'updatedAt', 'spec', 'status'],
        additionalProperties: false,
        properties: {
          id: { type: 'string', format: 'uuid' },
          createdAt: timestamp,
          updatedAt: timestamp,
          spec: {
            type: 'object',
            required: ['name', 'role', 'labelSelector'],
            additionalProperties: false,
            properties: { name: { type: 'string' }, role: { enum: ['read', 'operator'] }, labelSelector: { type: 'string' }, expiresAt: timestamp },
          },
          status: {
            type: 'object',
            required: ['version'],
            additionalProperties: false,
            properties: {
              version: { type: 'integer', minimum: 1 },
              value: { type: 'string', description: 'Only in the answer that creates or renews it' },
              expired: { type: 'boolean', description: 'Only for a token with an expiry' },
              lastUsedAt: { ...timestamp, description: 'Its last accepted request, when there was one (written about once a minute)' },
            },
          },
        },
      },
      JobSpec: {
        type: 'object',
        required: ['upstream'],
        additionalProperties: false,
        properties: { upstream: { type: 'string', format: 'uri' }, labels: stringMap, ports: stringMap, unsecureHttp: { type: 'boolean' } },
      },
      Job: {
        type: 'object',
        required: ['id', 'createdAt', 'updatedAt', 'spec'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          createdAt: timestamp,
          updatedAt: timestamp,
          spec: {
            type: 'object',
            required: ['labels', 'upstream', 'ports', 'unsecureHttp'],
            additionalProperties: false,
            properties: { labels: stringMap, upstream: { type: 'string' }, ports: stringMap, unsecureHttp: { type: 'boolean' } },
          },
          status: {
            type: 'object',
            required: ['lastUsedAt'],
            additionalProperties: false,
            properties: { lastUsedAt: { ...timestamp, description: 'Its last forwarded request (written about once a minute)' } },
          },
        },
      },
      Event: {
        type: 'object',
        required: ['id', 'time', 'action', 'target', 'actor'],
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          time: timestamp,
          action: { enum: ['token.create', 'token.renew', 'token.delete', 'job.put', 'job.delete'] },
          target: {
            type: 'object',
            required: ['kind', 'id'],
            additionalProperties: false,
            properties: {
              kind: { enum: ['token', 'job'] },
              id: { type: 'string' },
              name: { type: 'string' },
              labelSelector: { type: 'string' },
              labels: stringMap,
            },
          },
          actor: {
            oneOf: [
              {
                type: 'object',
                required: ['kind', 'tokenId', 'tokenName', 'client'],
                additionalProperties: false,
                properties: { kind: { const: 'token' }, tokenId: { type: 'string' }, tokenName: { type: 'string' }, client: { type: 'string' } },
              },
              {
                type: 'object',
                required: ['kind', 'user', 'host'],
                additionalProperties: false,
                properties: { kind: { const: 'cli' }, user: { type: 'string' }, host: { type: 'string' } },
              },
            ],
          },
        },
      },
    },
  },
});
