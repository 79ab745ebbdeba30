import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'var/**', 'coverage/**', 'dist/**', '.dist-*/**', 'scripts/bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', Headers: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // The domain is pure: it imports neither the web framework nor the database (style.md).
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['koa', 'koa/*', '@koa/*', 'knex', 'knex/*', 'pg', 'pg-*'], message: 'src/domain must not depend on Koa or the database.' },
          { group: ['../http/*', '../db/*', '../services/*', '../jobs/*', '../workers/*', '../cli/*', '../crypto/*', '../config', '../logger'], message: 'src/domain depends on nothing of ours but itself.' },
        ],
      }],
    },
  },
  {
    // Layers point inward: the database layer and the domain never reach up into HTTP.
    files: ['src/services/**/*.ts', 'src/db/**/*.ts', 'src/jobs/**/*.ts', 'src/workers/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ group: ['koa', 'koa/*', '@koa/*', '../http/app', '../http/pipeline', '../http/routes/*'], message: 'only src/http knows Koa and the routes.' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'scripts/**/*.js', '*.js', '*.mjs'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
