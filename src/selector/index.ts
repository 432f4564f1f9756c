/** Kubernetes label selectors: parsing, formatting, matching and label rules. */
export * from './labels.js';
export * from './parse.js';
export * from './match.js';
export * from './shared.js';
