import type { Db } from '../../src/db/database';
import { signedAs, type World } from './builders';
import { newTxnId, postingBody, shanghai, unknownPayCode } from './payments';
import { paymentRowId } from './reconciledDay';
import { insertStatement } from './statements';
import { executedBeforeNow, type TestService } from './testService';

/**
 * A ledger of many refunds, quickly (contracts/decisions/0198-ledger-verify-scales.md): copies of
 * payments the test posted through the API, each copy with every row the service wrote for its
 * template — the payment, its key, its refunds, their instructions, the journal entries naming
 * any of them and their lines, the refund items — under new row ids and new identifiers, in a
 * few set-based INSERTs. A copy is as consistent as its template: `ledger verify` finds in it what
 * it finds in the template (its statement matches and events are not copied, so a copy is not
 * reconciled; keep its business date recent).
 */
export async function copyPayments(db: Db, templatePaymentRowIds: readonly string[], copies: number): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw(`SET LOCAL statement_timeout = 0`);
    await trx.raw(`
      CREATE TEMP TABLE copy_payments ON COMMIT DROP AS
      SELECT p.id AS old_id, k, nextval('payments_id_seq') AS new_id
        FROM payments p, generate_series(1, ?::int) AS k WHERE p.id = ANY(?::bigint[])`, [copies, [...templatePaymentRowIds]]);
    await trx.raw(`
      CREATE TEMP TABLE copy_refunds ON COMMIT DROP AS
      SELECT r.id AS old_id, m.k, nextval('refunds_id_seq') AS new_id
        FROM refunds r JOIN copy_payments m ON m.old_id = r.payment_id`);
    await trx.raw(`
      CREATE TEMP TABLE copy_instructions ON COMMIT DROP AS
      SELECT i.id AS old_id, m.k, nextval('instructions_id_seq') AS new_id
        FROM instructions i JOIN copy_refunds m ON m.old_id = i.refund_id`);
    // An entry belongs to the copy of the payment, refund or instruction it names.
    await trx.raw(`
      CREATE TEMP TABLE copy_entries ON COMMIT DROP AS
      SELECT e.id AS old_id, k, nextval('journal_entries_id_seq') AS new_id
        FROM (SELECT DISTINCT e.id, COALESCE(mp.k, mr.k, mi.k) AS k
                FROM journal_entries e
                LEFT JOIN copy_payments mp ON mp.old_id = e.payment_id
                LEFT JOIN copy_refunds mr ON mr.old_id = e.refund_id AND (mp.k IS NULL OR mr.k = mp.k)
                LEFT JOIN copy_instructions mi ON mi.old_id = e.instruction_id AND COALESCE(mp.k, mr.k) IS NULL
               WHERE COALESCE(mp.k, mr.k, mi.k) IS NOT NULL) AS e`);
    const copy = async (table: string, from: string, overrides: Record<string, string>): Promise<void> => {
      const columns = (await trx.raw<{ rows: Array<{ column_name: string }> }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? AND is_generated = 'NEVER' ORDER BY ordinal_position`, [table])).rows.map((row) => row.column_name);
      await trx.raw(`INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.map((column) => overrides[column] ?? `t.${column}`).join(', ')} ${from}`);
    };
    const suffix = `'-' || m.k`;
    await copy('payments', 'FROM payments t JOIN copy_payments m ON m.old_id = t.id', { id: 'm.new_id', payment_id: `t.payment_id || ${suffix}`, agency_txn_id: `t.agency_txn_id || ${suffix}` });
    await copy('payment_keys', 'FROM payment_keys t JOIN copy_payments m ON m.old_id = t.payment_id', { payment_id: 'm.new_id', agency_txn_id: `t.agency_txn_id || ${suffix}` });
    await copy('refunds', 'FROM refunds t JOIN copy_refunds m ON m.old_id = t.id JOIN copy_payments mp ON mp.old_id = t.payment_id AND mp.k = m.k', {
      id: 'm.new_id', refund_id: `t.refund_id || ${suffix}`, payment_id: 'mp.new_id', refund_no: `t.refund_no || ${suffix}`,
    });
    await copy('refund_items', 'FROM refund_items t JOIN copy_refunds m ON m.old_id = t.refund_id', { refund_id: 'm.new_id' });
    await copy('instructions', 'FROM instructions t JOIN copy_instructions m ON m.old_id = t.id JOIN copy_refunds mr ON mr.old_id = t.refund_id AND mr.k = m.k', {
      id: 'm.new_id', instruction_no: `'TFR9' || lpad(m.new_id::text, 15, '0')`, refund_id: 'mr.new_id',
    });
    await copy(
      'journal_entries',
      `FROM journal_entries t JOIN copy_entries m ON m.old_id = t.id
         LEFT JOIN copy_payments mp ON mp.old_id = t.payment_id AND mp.k = m.k
         LEFT JOIN copy_refunds mr ON mr.old_id = t.refund_id AND mr.k = m.k
         LEFT JOIN copy_instructions mi ON mi.old_id = t.instruction_id AND mi.k = m.k`,
      { id: 'm.new_id', payment_id: 'COALESCE(mp.new_id, t.payment_id)', refund_id: 'COALESCE(mr.new_id, t.refund_id)', instruction_id: 'COALESCE(mi.new_id, t.instruction_id)' },
    );
    await copy('journal_lines', 'FROM journal_lines t JOIN copy_entries m ON m.old_id = t.entry_id', { entry_id: 'm.new_id' });
  });
  await db.raw('ANALYZE');
}

/**
 * Unapplied money with its refund obligations in each state a night leaves them (docs/settlement.md
 * §3): posted online with captured funds on a payCode that names no notice, the payer named, on
 * `day`; the agency's statement of `day` proves A, B and C were captured, so the reconciliation
 * run instructs their refunds to the agency; the agency executes B's, and its statement of the
 * next day confirms it (AGENCY_REFUND_CONFIRMED); D is posted after the run and waits APPROVED.
 * Answers the payments' row ids: A (INSTRUCTED), B (SUCCEEDED), D (APPROVED).
 */
export async function unappliedRefundTemplates(
  service: TestService,
  world: World,
  days: { day: string; next: string },
): Promise<{ instructed: string; succeeded: string; approved: string }> {
  const db = service.database.db;
  const agency = signedAs(service, world.agency);
  const payer = { name: '李四', accountNo: '6217000011112222333', bankName: '中国建设银行' };
  const post = async (amount: string, at: string): Promise<{ agencyTxnId: string; payCode: string; amount: string; rowId: string }> => {
    service.clocks.business.set(new Date(new Date(at).getTime() + 60_000));
    const agencyTxnId = newTxnId();
    const payCode = unknownPayCode();
    const posted = await agency('POST', '/v1/agency/payments', postingBody({ payCode, amount, paidAt: at, agencyTxnId, fundsCaptured: true, payerAccount: payer }));
    if (posted.status !== 201 || posted.body.status !== 'UNAPPLIED') throw new Error(`posting failed: ${posted.status} ${posted.text}`);
    return { agencyTxnId, payCode, amount, rowId: await paymentRowId(db, agencyTxnId) };
  };
  const a = await post('12.00', shanghai(`${days.day}T09:00:00`));
  const b = await post('20.50', shanghai(`${days.day}T09:10:00`));
  const c = await post('7.25', shanghai(`${days.day}T09:20:00`));
  await insertStatement(db, { agencyCode: world.agency.code, businessDate: days.day, lines: [a, b, c].map(({ agencyTxnId, payCode, amount }) => ({ agencyTxnId, payCode, amount })) });
  service.clocks.business.set(new Date(shanghai(`${days.next}T02:00:00`)));
  await service.runtime.services.reconciliation.reconcile(world.agency.code, days.day);
  const instructionOf = async (paymentRowId: string): Promise<string> =>
    ((await db.raw<{ rows: Array<{ instruction_no: string }> }>(`SELECT i.instruction_no FROM instructions i JOIN refunds r ON r.id = i.refund_id WHERE r.payment_id = ?::bigint`, [paymentRowId])).rows[0] as { instruction_no: string }).instruction_no;
  const instructionNo = await instructionOf(b.rowId);
  const executed = await agency('POST', `/v1/agency/instructions/${instructionNo}/result`, { status: 'EXECUTED', executedAt: executedBeforeNow(service, shanghai(`${days.next}T10:00:00`)), reference: 'AG-REF-B' });
  if (executed.status !== 200) throw new Error(`reporting the refund failed: ${executed.status} ${executed.text}`);
  await insertStatement(db, { agencyCode: world.agency.code, businessDate: days.next, lines: [{ kind: 'REFUND', agencyTxnId: 'AGR-B', instructionNo, amount: b.amount }] });
  const d = await post('9.99', shanghai(`${days.next}T11:00:00`));
  service.clocks.business.set(new Date(new Date(shanghai(`${days.next}T02:00:00`)).getTime() + 86_400_000));
  await service.runtime.services.reconciliation.reconcile(world.agency.code, days.next);
  const statuses = (await db.raw<{ rows: Array<{ payment_id: string; status: string }> }>(`SELECT payment_id::text, status FROM refunds WHERE payment_id = ANY(?::bigint[])`, [[a.rowId, b.rowId, d.rowId]])).rows;
  const status = (rowId: string): string | undefined => statuses.find((row) => row.payment_id === rowId)?.status;
  if (status(a.rowId) !== 'INSTRUCTED' || status(b.rowId) !== 'SUCCEEDED' || status(d.rowId) !== 'APPROVED') throw new Error(`refund templates: ${JSON.stringify(statuses)}`);
  return { instructed: a.rowId, succeeded: b.rowId, approved: d.rowId };
}
