/**
 * Evaluating selectors against a job's labels, with Kubernetes semantics.
 */
import { compareInt64 } from './integer.js';
import type { Labels } from './labels.js';
import type { Requirement, Selector } from './parse.js';

function contains(values: readonly string[], value: string): boolean {
  for (let i = 0; i < values.length; i++) {
    if (values[i] === value) return true;
  }
  return false;
}

function requirementMatches(r: Requirement, labels: Labels): boolean {
  const value = labels.get(r.key);
  switch (r.op) {
    case 'eq':
      return value === r.value;
    case 'neq':
      return value !== r.value;
    case 'in':
      return value !== undefined && contains(r.values, value);
    case 'notin':
      return value === undefined || !contains(r.values, value);
    case 'exists':
      return value !== undefined;
    case 'notexists':
      return value === undefined;
    case 'gt':
      return value !== undefined && compareInt64(value, r.value) > 0;
    case 'lt':
      return value !== undefined && compareInt64(value, r.value) < 0;
  }
}

/**
 * Whether `labels` satisfy every requirement of `selector` (the empty selector
 * matches everything). As in Kubernetes, `neq` and `notin` also match when the
 * key is absent, while `eq` and `in` need the key present with a listed value, and
 * `gt` and `lt` the key present with a value that is a 64-bit integer.
 * Pure and allocation-free.
 */
export function matches(selector: Selector, labels: Labels): boolean {
  const requirements = selector.requirements;
  for (let i = 0; i < requirements.length; i++) {
    if (!requirementMatches(requirements[i]!, labels)) return false;
  }
  return true;
}

/**
 * The labels a matching job must carry, taken from `eq` requirements and
 * single-value `in` requirements. When a key is pinned twice to different
 * values (the selector can then match nothing) the first one is kept.
 */
export function equalityLabels(selector: Selector): Map<string, string> {
  const labels = new Map<string, string>();
  for (const r of selector.requirements) {
    const value = r.op === 'eq' ? r.value : r.op === 'in' && r.values.length === 1 ? r.values[0] : undefined;
    if (value !== undefined && !labels.has(r.key)) labels.set(r.key, value);
  }
  return labels;
}
