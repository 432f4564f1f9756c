// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tap/', 'coverage/', '.stryker-tmp/', 'reports/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Long functions are split into named steps (blank lines and comments count).
    files: ['src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60 }] },
  },
  {
    // The classic API (`zod`) bundles whole, every locale included (580 KB, some 30 ms of each
    // start): schemas import src/util/zod.ts, zod/mini with its English messages loaded.
    files: ['src/**/*.ts'],
    ignores: ['src/util/zod.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['zod', 'zod/*'], message: 'import * as z from src/util/zod.ts instead (zod/mini, English messages loaded)' }] },
      ],
    },
  },
  {
    // tap queues `t.test(...)` subtests itself, so their promises are not left floating,
    // and an async test callback without an await is tap's idiom.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Scripts and config files are outside the TypeScript project: lint them without types.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
);
