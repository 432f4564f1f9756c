// Mutation testing of the pure core (`npm run mutate`; not in CI: it runs the unit tests once per
// mutant). `npm run mutate -- --mutate 'src/selector/**/*.ts'` checks one module; the incremental
// file (reports/stryker-incremental.json) lets a later run test only what changed. docs/testing.md
// keeps the scores and the survivors judged equivalent.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  coverageAnalysis: 'perTest',
  mutate: [
    'src/selector/**/*.ts',
    'src/tokens/format.ts',
    'src/auth/**/*.ts',
    'src/api/**/*.ts',
    'src/routing/**/*.ts',
    'src/proxy/headers.ts',
    'src/session/cookie.ts',
    'src/gate/**/*.ts',
  ],
  tap: {
    // The unit tests of those modules: each file runs in its own node, TypeScript through tsx (esbuild), which starts in a fraction of the time of tap's ts-node loader.
    testFiles: [
      'test/selector/*.test.ts',
      'test/tokens/format*.test.ts',
      'test/auth/*.test.ts',
      'test/api/*.test.ts',
      'test/routing/*.test.ts',
      'test/proxy/headers*.test.ts',
      'test/session/cookie.test.ts',
      'test/gate/*.test.ts',
    ],
    nodeArgs: ['--import=tsx'],
  },
  concurrency: 2,
  timeoutMS: 60_000,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 85, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
