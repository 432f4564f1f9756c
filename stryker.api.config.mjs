// src/api alone, against its own unit tests only (the pure tests in test/api; not
// test/api/contract.test.ts, which starts a whole jobgate and an upstream for each run):
// `nice -n 10 npx stryker run stryker.api.config.mjs`. docs/testing.md keeps the scores.
import base from './stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  mutate: ['src/api/**/*.ts'],
  tap: {
    ...base.tap,
    testFiles: [
      'test/api/body.test.ts',
      'test/api/body.property.test.ts',
      'test/api/decide.test.ts',
      'test/api/decide.cases.test.ts',
      'test/api/json-keys.test.ts',
      'test/api/override.test.ts',
      'test/api/path.test.ts',
      'test/api/policy.test.ts',
      'test/api/policy.property.test.ts',
      'test/api/policy.cases.test.ts',
      'test/api/query.test.ts',
      'test/api/query.property.test.ts',
      'test/api/refusal.test.ts',
    ],
  },
  concurrency: 1,
  incrementalFile: 'reports/stryker-incremental-api.json',
  jsonReporter: { fileName: 'reports/mutation/api.json' },
};
