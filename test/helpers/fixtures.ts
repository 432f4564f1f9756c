import { parseSelector } from '../../src/selector/index.js';
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
  };
}
