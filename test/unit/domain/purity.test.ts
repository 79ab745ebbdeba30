import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * src/domain is pure (README.md, Layout). It imports nothing of ours outside itself, neither koa nor knex,
 * and never reads the system time (only clock.ts may construct "now").
 */
const DOMAIN_DIR = join(__dirname, '..', '..', '..', 'src', 'domain');
const ALLOWED_PACKAGES = new Set(['decimal.js']);

const files = readdirSync(DOMAIN_DIR).filter((name) => name.endsWith('.ts'));

describe.each(files)('src/domain/%s', (file) => {
  const source = readFileSync(join(DOMAIN_DIR, file), 'utf8');
  const specifiers = [...source.matchAll(/(?:from\s+|require\(\s*|import\(\s*)['"]([^'"]+)['"]/g)].map(
    (match) => match[1] as string,
  );

  it('imports only the domain and decimal.js', () => {
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        expect(specifier).toMatch(/^\.\/[A-Za-z]+$/);
        continue;
      }
      // Not even Node's built-ins: the domain needs none (eslint.config.mjs says why).
      expect(ALLOWED_PACKAGES.has(specifier)).toBe(true);
    }
  });

  it('never reads the system time', () => {
    if (file === 'clock.ts') {
      return;
    }
    expect(source).not.toMatch(/Date\.now\(|new Date\(\s*\)|performance\.now\(/);
  });
});
