import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Koa belongs to src/http alone. */
const KOA = { group: ['koa', 'koa/*', '@koa/*'], message: 'only src/http knows Koa.' };

export default tseslint.config(
  { ignores: ['node_modules/**', 'var/**', 'coverage/**', 'dist/**', '.dist-*/**', 'scripts/bench/results/**', 'wasm/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', fetch: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', Headers: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  // Layers (README.md, Layout): dependencies point inward, http → services → domain,
  // services → db → domain; jobs and workers sit beside http, above services. Each block below
  // lists, for the files of one directory depth, every import that would point upward, spelled
  // as the relative paths those files use ('../', '../../'). Flat config does not merge the
  // options of one rule across blocks, so each block carries all the patterns its files need.
  {
    // The domain is pure computation: it imports itself and decimal.js, nothing else — not Koa,
    // not the database, not our other layers, and not Node's built-ins either (it needs none: time
    // comes from the injected clock, ids and hashes are made by the services and passed in), so it
    // can run and be tested anywhere.
    files: ['src/domain/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ regex: '^(?!\\./[A-Za-z]+$|decimal\\.js$)', message: 'src/domain imports only src/domain and decimal.js.' }],
      }],
    },
  },
  {
    files: ['src/db/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [KOA, { regex: '^\\.\\./(services|http|jobs|workers|cli|runtime|main)(/|$)', message: 'src/db is below the services: it must not import services, http, jobs, workers or the CLI.' }],
      }],
    },
  },
  {
    files: ['src/db/repositories/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [KOA, { regex: '^\\.\\./\\.\\./(services|http|jobs|workers|cli|runtime|main)(/|$)', message: 'src/db is below the services: it must not import services, http, jobs, workers or the CLI.' }],
      }],
    },
  },
  {
    files: ['src/services/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [KOA, { regex: '^\\.\\./(http|jobs|workers|cli|runtime|main)(/|$)', message: 'src/services must not import http, jobs, workers or the CLI: they call the services, not the other way round (shared vocabulary lives in src/domain).' }],
      }],
    },
  },
  {
    files: ['src/jobs/*.ts', 'src/workers/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [KOA, { regex: '^\\.\\./(http|cli|runtime|main)(/|$)', message: 'jobs and workers run beside http, not on it: they must not import src/http.' }],
      }],
    },
  },
  {
    files: ['src/http/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ regex: '^\\.\\./db/repositories(/|$)', message: 'src/http calls the services, never the repositories.' }],
      }],
    },
  },
  {
    files: ['src/http/*/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [{ regex: '^\\.\\./\\.\\./db/repositories(/|$)', message: 'src/http calls the services, never the repositories.' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'scripts/**/*.js', '*.js', '*.mjs'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
