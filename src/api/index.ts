/**
 * The training API behind jobgate: path hygiene, the route policy table, the decision for
 * operator tokens (scoped or not), and the query and body rewrites that keep a scoped token
 * within its label selector. Every export is pure (no I/O).
 */
export * from './refusal.js';
export * from './path.js';
export * from './policy.js';
export * from './query.js';
export * from './body.js';
export * from './decide.js';
export * from './override.js';
