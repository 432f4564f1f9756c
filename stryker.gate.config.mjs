// src/gate alone, against its own unit tests only (test/gate/*.test.ts, which call the gate's
// modules directly on a real Redis): `nice -n 10 npx stryker run stryker.gate.config.mjs`.
// The proxy, session and authz tests also reach the gate, through a running jobgate, but one
// run of them per mutant would take hours here. docs/testing.md keeps the scores.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: ['src/gate/**/*.ts'],
  tap: { ...base.tap, testFiles: ['test/gate/*.test.ts'] },
  concurrency: 1,
  incrementalFile: 'reports/stryker-incremental-gate.json',
  jsonReporter: { fileName: 'reports/mutation/gate.json' },
};
