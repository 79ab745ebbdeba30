'use strict';
// Runs a TypeScript entry point without a build step: every .ts file is compiled on load by
// @swc/core (type-checking is `npm run typecheck`'s job, not start-up's). Compiled output is
// cached in memory only, so the source on disk is always what runs.
const Module = require('node:module');
const path = require('node:path');
const fs = require('node:fs');
const swc = require('@swc/core');

const options = {
  jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};
Module._extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = swc.transformSync(source, { ...options, filename });
  module._compile(code, filename);
};
process.setSourceMapsEnabled(true);

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: node scripts/run.js <entry.ts> [args…]\n');
  process.exit(2);
}
process.argv.splice(1, 2, path.resolve(entry));
require(path.resolve(entry));
