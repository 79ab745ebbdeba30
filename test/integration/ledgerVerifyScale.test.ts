import { LEDGER_CHECKS, type LedgerCheck } from '../../src/db/repositories/ledger';
import { verifyLedger } from '../../src/services/ledger';
import { buildWorld } from '../helpers/builders';
import { copyPayments, unappliedRefundTemplates } from '../helpers/ledgerScale';
import { shanghai } from '../helpers/payments';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * `ledger verify` scales with the ledger (contracts/decisions/0198-ledger-verify-scales.md): no
 * check looks a row up per row of another table by scanning a large table — a plan whose cost
 * grows with the product of two tables, which at 30,000 refunds outlived the 60 s statement
 * timeout. No clock is read: the planner's own plan of each check, over a ledger of some thousand
 * refunds (unapplied money with its obligations in every state, copies of postings made through
 * the API) and freshly analysed, must not scan a large table once per outer row — under a
 * correlated SubPlan, or as the inner side of a nested loop.
 */

/** A table is large here from this many rows: every table the copies grow, none of the fixed world's. */
const LARGE_TABLE_ROWS = 1_000;
const COPIES = 500;

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** The scans of a large table the plan repeats per outer row, described. */
function repeatedScans(node: PlanNode, large: ReadonlySet<string>, underSubPlan = false): string[] {
  const correlated = underSubPlan || node['Parent Relationship'] === 'SubPlan';
  const found: string[] = [];
  const scansLarge = (scan: PlanNode | undefined): scan is PlanNode => scan?.['Node Type'] === 'Seq Scan' && large.has(scan['Relation Name'] ?? '');
  if (correlated && scansLarge(node)) found.push(`Seq Scan on ${node['Relation Name']} in a correlated SubPlan`);
  if (node['Node Type'] === 'Nested Loop') {
    const inner = node.Plans?.[1];
    const leaf = inner?.['Node Type'] === 'Materialize' ? inner.Plans?.[0] : inner;
    if (scansLarge(leaf)) found.push(`Seq Scan on ${leaf['Relation Name']} inside a Nested Loop`);
  }
  for (const child of node.Plans ?? []) found.push(...repeatedScans(child, large, correlated));
  return found;
}

let service: TestService;
let large: Set<string>;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-17T08:00:00')) });
  const world = await buildWorld(service);
  const templates = await unappliedRefundTemplates(service, world, { day: '2026-11-17', next: '2026-11-18' });
  await copyPayments(service.database.db, [templates.instructed, templates.succeeded, templates.approved], COPIES);
  const tables = await service.database.db.raw<{ rows: Array<{ relname: string }> }>(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'public' AND c.relkind = 'r' AND c.reltuples >= ?`,
    [LARGE_TABLE_ROWS],
  );
  large = new Set(tables.rows.map((row) => row.relname));
}, 120_000);

afterAll(async () => {
  await service.close();
});

it('the ledger of some thousand refunds has large tables of payments, refunds, instructions and entries, and verifies', async () => {
  expect([...large].sort()).toEqual(expect.arrayContaining(['instructions', 'journal_entries', 'journal_lines', 'payments', 'refunds']));
  const verification = await verifyLedger(service.database.db, { businessToday: '2026-11-19' });
  expect(verification.checks.filter((check) => !check.ok)).toEqual([]);
});

it.each(LEDGER_CHECKS.map((check) => [check.name, check] as [string, LedgerCheck]))('%s scans no large table once per row', async (_name, check) => {
  const bindings = (check.sql.match(/@(limit|today)/g) ?? []).map((name) => (name === '@limit' ? 101 : '2026-11-19'));
  const explained = await service.database.db.raw<{ rows: Array<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }> }>(`EXPLAIN (FORMAT JSON) ${check.sql.replace(/@(limit|today)/g, '?')}`, bindings);
  const plan = explained.rows[0]?.['QUERY PLAN'][0]?.Plan as PlanNode;
  expect(repeatedScans(plan, large)).toEqual([]);
});
