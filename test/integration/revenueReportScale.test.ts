import { refundedItems, settledByGroup } from '../../src/db/repositories/revenue';
import { buildWorld, signedAs } from '../helpers/builders';
import { copyPayments, unappliedRefundTemplates } from '../helpers/ledgerScale';
import { issueNotice, newTxnId, postingBody, shanghai } from '../helpers/payments';
import { rowsReadInTransaction } from '../helpers/tableReads';
import { startTestService, type TestService } from '../helpers/testService';

/**
 * The revenue report reads the shares and refunds of its own dates
 * (contracts/decisions/0217-index-audit.md): the settled shares by their indexed business date,
 * the SUCCEEDED refunds through the range's payments. Before, it named the range only on the
 * payments, so every report read every settled share ever stored (the index on the shares'
 * business date unused) and summed every SUCCEEDED refund before it joined them to the range.
 *
 * No clock. The refunds: inside one transaction, PostgreSQL's own count of the rows read from
 * `refunds` (pg_stat_xact_user_tables) must stay below half of the SUCCEEDED ones. The shares:
 * without a usable index the planner walks the primary key's index once per payment — an index
 * read that fetches no row, so no row count shows it —; the pages the statement's plan reads for
 * `settled_revenue_shares` (EXPLAIN ANALYZE, BUFFERS) must stay below half of the table's pages.
 */

interface PlanNode {
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The pages the plan's scans of `table` read (a scan's count includes its index's). */
function pagesRead(node: PlanNode, table: string): number {
  if (node['Relation Name'] === table) return (node['Shared Hit Blocks'] ?? 0) + (node['Shared Read Blocks'] ?? 0);
  return (node.Plans ?? []).reduce((sum, child) => sum + pagesRead(child, table), 0);
}

const REPORT_DATE = '2026-11-18';
/** Settled shares of earlier dates: what months of confirmed settlements store (some hundred pages). */
const SHARES_EARLIER = 30_000;
/** Copies of a payment of 2026-11-17 with its SUCCEEDED refund. */
const REFUNDED_COPIES = 1_500;
/** Applied payments of the report's date, which the report joins the shares and refunds to. */
const PAID = 10;

let service: TestService;
const db = () => service.database.db;

beforeAll(async () => {
  service = await startTestService({ businessNow: new Date(shanghai('2026-11-17T08:00:00')) });
  const world = await buildWorld(service);
  const templates = await unappliedRefundTemplates(service, world, { day: '2026-11-17', next: REPORT_DATE });
  await copyPayments(db(), [templates.succeeded], REFUNDED_COPIES);
  const at = shanghai(`${REPORT_DATE}T08:00:00`);
  service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
  for (let index = 0; index < PAID; index += 1) {
    const payCode = await issueNotice(signedAs(service, world.unit), { dueDate: '2026-12-31' });
    expect((await signedAs(service, world.agency)('POST', '/v1/agency/payments', postingBody({ payCode, amount: '50.00', paidAt: at, agencyTxnId: newTxnId('RV') }))).status).toBe(201);
  }
  // The shares stand for settlements of other payments; only the report reads them here, so they
  // are written without their instructions' rows (the table's foreign key is not checked).
  await db().transaction(async (trx) => {
    await trx.raw(`SET LOCAL session_replication_role = replica`);
    await trx.raw(
      `INSERT INTO settled_revenue_shares (instruction_id, payment_id, line_position, share_position, budget_level, amount, business_date, recognised_at)
       SELECT -1 - g / 2, -1 - g, 0, g % 2, 1 + g % 5, 10.00, CAST(? AS date) - 1 - g % 90, now()
         FROM generate_series(0, ?::int - 1) g`,
      [REPORT_DATE, SHARES_EARLIER],
    );
  });
  await db().raw('ANALYZE');
}, 120_000);

afterAll(async () => {
  await service.close();
});

it('reads the settled shares of the report’s dates only', async () => {
  // The statement the report sends, as sent, then its plan as PostgreSQL runs it.
  const sent: Array<{ sql: string; bindings: unknown[] }> = [];
  const capture = (query: { sql: string; bindings?: unknown[] }): void => void (query.sql.includes('settled_revenue_shares') && sent.push({ sql: query.sql, bindings: query.bindings ?? [] }));
  db().on('query', capture);
  try {
    expect(await settledByGroup(db(), { keys: ['itemCode'], from: REPORT_DATE, to: REPORT_DATE })).toEqual([]);
  } finally {
    db().removeListener('query', capture);
  }
  expect(sent).toHaveLength(1);
  const connection = await db().client.acquireConnection();
  try {
    const explained = await connection.query({ text: `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sent[0]?.sql}`, values: sent[0]?.bindings });
    const plan = explained.rows[0]['QUERY PLAN'][0].Plan as PlanNode;
    const pages = Number((await db().raw(`SELECT relpages FROM pg_class WHERE relname = 'settled_revenue_shares'`)).rows[0].relpages);
    expect(pages).toBeGreaterThan(100);
    expect(pagesRead(plan, 'settled_revenue_shares')).toBeLessThan(pages / 2);
  } finally {
    await db().client.releaseConnection(connection);
  }
});

it('sums the SUCCEEDED refunds of the report’s dates only', async () => {
  const refunds = Number((await db()('refunds').where({ status: 'SUCCEEDED' }).count<Array<{ count: string }>>({ count: '*' }))[0]?.count);
  expect(refunds).toBeGreaterThanOrEqual(REFUNDED_COPIES);
  await db().transaction(async (trx) => {
    // The counters may still hold reads of this connection's earlier transactions (PostgreSQL
    // flushes them at most once a second): only what the read adds counts.
    const before = await rowsReadInTransaction(trx, 'refunds');
    expect(await refundedItems(trx, { keys: ['itemCode'], from: REPORT_DATE, to: REPORT_DATE })).toEqual([]);
    expect((await rowsReadInTransaction(trx, 'refunds')) - before).toBeLessThan(refunds / 2);
  });
});
