import { spawnSync } from 'node:child_process';
import path from 'node:path';

/**
 * The layer rules of eslint.config.mjs fire: each source below is linted as if it were a file at
 * the given path, through ESLint's Node API with the project's own configuration (in a child
 * process: ESLint loads its ES-module configuration, which this test runner does not). An upward
 * import must be refused by the layer rule; the same import where it points inward must pass.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const RULE = '@typescript-eslint/no-restricted-imports';

interface Case {
  filePath: string;
  code: string;
  refused: boolean;
}

const cases: Case[] = [
  // services → http (and jobs, workers)
  { filePath: 'src/services/fixture.ts', code: "import type { Call } from '../http/call';\nexport type T = Call;\n", refused: true },
  { filePath: 'src/services/fixture.ts', code: "export { buildRoutes } from '../http/routes';\n", refused: true },
  { filePath: 'src/services/fixture.ts', code: "import { JobRunner } from '../jobs/runner';\nexport const r = JobRunner;\n", refused: true },
  { filePath: 'src/services/fixture.ts', code: "import { CallbackDeliveryWorker } from '../workers/callbackDelivery';\nexport const w = CallbackDeliveryWorker;\n", refused: true },
  { filePath: 'src/services/fixture.ts', code: "import Koa from 'koa';\nexport const k = Koa;\n", refused: true },
  { filePath: 'src/services/fixture.ts', code: "import type { NonceClaim } from '../domain/access';\nimport type { Queryable } from '../db/database';\nexport type T = [NonceClaim, Queryable];\n", refused: false },
  // db → services, http, jobs, workers
  { filePath: 'src/db/fixture.ts', code: "import { requestJobRun } from '../services/jobRequests';\nexport const f = requestJobRun;\n", refused: true },
  { filePath: 'src/db/repositories/fixture.ts', code: "import type { Services } from '../../services';\nexport type T = Services;\n", refused: true },
  { filePath: 'src/db/repositories/fixture.ts', code: "import type { Call } from '../../http/call';\nexport type T = Call;\n", refused: true },
  { filePath: 'src/db/repositories/fixture.ts', code: "import type { JobDefinition } from '../../jobs/job';\nexport type T = JobDefinition;\n", refused: true },
  { filePath: 'src/db/repositories/fixture.ts', code: "import { WakeableSleep } from '../../workers/wakeableSleep';\nexport const w = WakeableSleep;\n", refused: true },
  { filePath: 'src/db/repositories/fixture.ts', code: "import type { PartyRole } from '../../domain/access';\nimport type { Queryable } from '../database';\nexport type T = [PartyRole, Queryable];\n", refused: false },
  // domain → anything but domain and decimal.js
  { filePath: 'src/domain/fixture.ts', code: "import type { Db } from '../db/database';\nexport type T = Db;\n", refused: true },
  { filePath: 'src/domain/fixture.ts', code: "import type { Logger } from '../logger';\nexport type T = Logger;\n", refused: true },
  { filePath: 'src/domain/fixture.ts', code: "import { createHash } from 'node:crypto';\nexport const h = createHash;\n", refused: true },
  { filePath: 'src/domain/fixture.ts', code: "import knex from 'knex';\nexport const k = knex;\n", refused: true },
  { filePath: 'src/domain/fixture.ts', code: "import { Decimal } from 'decimal.js';\nimport { ZERO } from './money';\nexport const z = new Decimal(ZERO);\n", refused: false },
  // http → db/repositories
  { filePath: 'src/http/fixture.ts', code: "import { findPartyByAppId } from '../db/repositories/parties';\nexport const f = findPartyByAppId;\n", refused: true },
  { filePath: 'src/http/routes/fixture.ts', code: "import type { PartyRow } from '../../db/repositories/parties';\nexport type T = PartyRow;\n", refused: true },
  { filePath: 'src/http/routes/fixture.ts', code: "import type { Services } from '../../services';\nexport type T = Services;\n", refused: false },
  // jobs and workers → http
  { filePath: 'src/jobs/fixture.ts', code: "import type { Call } from '../http/call';\nexport type T = Call;\n", refused: true },
  { filePath: 'src/workers/fixture.ts', code: "import type { Reply } from '../http/call';\nexport type T = Reply;\n", refused: true },
  { filePath: 'src/jobs/fixture.ts', code: "import { expireNotices } from '../services/notices';\nexport const e = expireNotices;\n", refused: false },
];

const CHILD = `
const { ESLint } = require('eslint');
let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', async () => {
  const eslint = new ESLint({ cwd: ${JSON.stringify(ROOT)} });
  const out = [];
  for (const c of JSON.parse(input)) {
    const [result] = await eslint.lintText(c.code, { filePath: c.filePath });
    out.push(result.messages.map((m) => ({ ruleId: m.ruleId, message: m.message })));
  }
  process.stdout.write(JSON.stringify(out));
});
`;

let results: Array<Array<{ ruleId: string | null; message: string }>>;

beforeAll(() => {
  const child = spawnSync(process.execPath, ['-e', CHILD], { cwd: ROOT, input: JSON.stringify(cases), encoding: 'utf8', timeout: 60_000 });
  if (child.status !== 0) throw new Error(`eslint child failed: ${child.stderr}`);
  results = JSON.parse(child.stdout);
});

it.each(cases.map((c, index) => [c.filePath, c.code.split('\n')[0], c.refused, index] as const))('%s: %s → refused: %s', (_file, _line, refused, index) => {
  const messages = results[index] ?? [];
  const layerErrors = messages.filter((message) => message.ruleId === RULE);
  if (refused) expect(layerErrors.length).toBeGreaterThan(0);
  else expect(messages).toEqual([]);
});
