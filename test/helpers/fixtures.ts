import { createHash } from 'node:crypto';
import { parseSelector, type Labels } from '../../src/selector/index.js';
import type { Role, TokenRecord } from '../../src/tokens/record.js';

/** A token record for the pure decision tests: only role and selector vary. */
export function tokenRecord(role: Role, labelSelector = ''): TokenRecord {
  return {
    id: '00000000-0000-4000-8000-000000000000',
    name: 'tester',
    role,
    labelSelector,
    selector: parseSelector(labelSelector),
    secretHash: '0'.repeat(64),
    version: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    expiresAt: undefined,
    expiresAtMs: undefined,
  };
}

/** A job's labels, from a plain object. */
export const labels = (entries: Record<string, string>): Labels => new Map(Object.entries(entries));

/** A valid token record as Redis holds it (docs/redis-schema.md): what a hand-made record starts from. */
export const storedTokenHash = (id: string): Record<string, string> => ({
  id,
  name: 'hand-made',
  role: 'read',
  labelSelector: 'team=a',
  secretHash: 'ab'.repeat(32),
  version: '1',
  createdAt: '2024-01-02T03:04:05.678Z',
  updatedAt: '2024-01-02T03:04:05Z',
});

/** A valid job record as Redis holds it (docs/redis-schema.md): what a hand-made record starts from. */
export const storedJobHash = (id: string): Record<string, string> => ({
  id,
  labels: '{"team":"a"}',
  upstream: 'http://10.0.0.1:8080/',
  ports: '{"8888":"http://10.0.0.1:8888/"}',
  unsecureHttp: 'false',
  createdAt: '2024-01-02T03:04:05.678Z',
  updatedAt: '2024-01-02T03:04:05Z',
});

/** SHA-256 of `text` in hex, computed here rather than by src/tokens/format.ts, which the tests check. */
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');
