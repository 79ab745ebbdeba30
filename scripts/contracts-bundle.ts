import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { CONTRACTS_DIR, loadContractDocument } from '../src/http/contract';

/**
 * Writes contracts/openapi.yaml: the fragments in contracts/openapi/ merged into one document,
 * for linting and for integrators. With --check it fails when the written file is stale.
 */
const target = path.join(CONTRACTS_DIR, 'openapi.yaml');
const header = '# GENERATED from contracts/openapi/*.yaml by `npm run contracts:bundle`; edit the fragments.\n';
const text = header + YAML.stringify(loadContractDocument(), { lineWidth: 0, aliasDuplicateObjects: false });
if (process.argv.includes('--check')) {
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  if (current !== text) {
    process.stderr.write('contracts/openapi.yaml is stale: run `npm run contracts:bundle`\n');
    process.exit(1);
  }
} else {
  fs.writeFileSync(target, text);
}
