'use strict';
// `npm run build` (and `npm ci`'s `prepare`, and `npm start`'s `prestart` with --if-stale):
// compiles what the service and the CLI run — src/, migrations/ and scripts/cli.ts — to dist/
// as CommonJS ES2022 with source maps, and the contract's YAML fragments merged into
// dist/contracts/openapi.json (the compiled service parses no YAML), with @swc/core, the same compiler the tests (@swc/jest)
// and scripts/run.js use, so the JavaScript that runs is the JavaScript that was tested.
// Type-checking is `npm run typecheck`'s job (contracts/decisions/0078-compiled-service.md).
//
// The build is written to a fresh directory and renamed over dist/ at the end, so a removed
// source file (a migration above all) never lingers in dist/, and a failed build leaves the
// previous dist/ whole. dist/.build.json records every input's size and modification time;
// `--if-stale` rebuilds only when they differ from the current sources, and loads no compiler
// when nothing changed.
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const MANIFEST = '.build.json';
const INPUTS = ['src', 'migrations', 'scripts/cli.ts'];
const CONTRACT_FRAGMENTS = 'contracts/openapi';
const OPTIONS = {
  jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
  module: { type: 'commonjs' },
  sourceMaps: true,
};

function sourceFiles() {
  const files = [];
  const walk = (relative) => {
    const absolute = path.join(ROOT, relative);
    const stat = fs.statSync(absolute);
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(absolute).sort()) walk(path.join(relative, name));
    } else if ((relative.endsWith('.ts') && !relative.endsWith('.d.ts')) || relative.endsWith('.yaml')) {
      files.push({ file: relative.split(path.sep).join('/'), size: stat.size, mtimeMs: stat.mtimeMs });
    }
  };
  for (const input of [...INPUTS, CONTRACT_FRAGMENTS]) walk(input);
  return files;
}

function fingerprint(files) {
  return JSON.stringify(files.map(({ file, size, mtimeMs }) => [file, size, mtimeMs]));
}

function isCurrent(files) {
  try {
    const built = JSON.parse(fs.readFileSync(path.join(DIST, MANIFEST), 'utf8'));
    return built.fingerprint === fingerprint(files);
  } catch {
    return false;
  }
}

async function build(files) {
  const swc = require('@swc/core');
  const staging = fs.mkdtempSync(path.join(ROOT, '.dist-'));
  fs.chmodSync(staging, 0o755);
  try {
    const sources = files.filter(({ file }) => file.endsWith('.ts'));
    await Promise.all(
      sources.map(async ({ file }) => {
        const target = path.join(staging, file.replace(/\.ts$/, '.js'));
        const output = await swc.transformFile(path.join(ROOT, file), {
          ...OPTIONS,
          filename: file,
          sourceFileName: path.relative(path.dirname(path.join(DIST, file)), path.join(ROOT, file)),
          outputPath: target,
        });
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, `${output.code}\n//# sourceMappingURL=${path.basename(target)}.map\n`);
        fs.writeFileSync(`${target}.map`, output.map);
      }),
    );
    // The merge is the service's own (src/http/contract.ts), run from what was just compiled.
    const { loadContractDocument } = require(path.join(staging, 'src', 'http', 'contract.js'));
    fs.mkdirSync(path.join(staging, 'contracts'));
    fs.writeFileSync(path.join(staging, 'contracts', 'openapi.json'), JSON.stringify(loadContractDocument(path.join(ROOT, CONTRACT_FRAGMENTS))));
    fs.writeFileSync(path.join(staging, MANIFEST), `${JSON.stringify({ builtAt: new Date().toISOString(), files: files.length, fingerprint: fingerprint(files) })}\n`);
    // Renames are atomic: the old dist/ is moved aside whole before the new one takes its name.
    const previous = `${staging}-previous`;
    try {
      fs.renameSync(DIST, previous);
    } catch (error) {
      if (error.code !== 'ENOENT') throw error; // no dist/ yet, or another build moved it
    }
    try {
      fs.renameSync(staging, DIST);
    } catch (error) {
      // Another build (a second `npm start`, `npm run cli`) took the name in between: it compiled
      // the same sources, so its dist/ stands.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
      fs.rmSync(staging, { recursive: true, force: true });
    }
    fs.rmSync(previous, { recursive: true, force: true });
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

async function main() {
  const ifStale = process.argv.includes('--if-stale');
  const startedMs = performance.now();
  const files = sourceFiles();
  if (ifStale && isCurrent(files)) return;
  await build(files);
  process.stderr.write(`built ${files.length} files (TypeScript and contract) into dist/ in ${Math.round(performance.now() - startedMs)} ms\n`);
}

main().catch((error) => {
  process.stderr.write(`build failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
