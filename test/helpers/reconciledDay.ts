import crypto from 'node:crypto';
import type { Db } from '../../src/db/database';

/**
 * Reconciled days for settlement tests: the rows reconciliation writes (docs/reconciliation.md) —
 * a statement with a PAY line per matched payment, a run with its outcome, a live match per
 * matched payment, and discrepancies that hold (OPEN) or were accepted (RESOLVED
 * ACCEPT_PLATFORM) — inserted directly, for payments posted through the API. Reconciliation
 * itself is tested on its own; settlement only reads these rows.
 */

function id(prefix: string): string {
  return `${prefix}${crypto.randomBytes(8).toString('hex')}`;
}

export interface ReconciledDay {
  runRowId: string;
  statementRowId: string | null;
}

/**
 * Reconciles (agency, date): `matched` payment row ids get a statement line and a live match;
 * `held` an OPEN discrepancy; `accepted` a discrepancy resolved ACCEPT_PLATFORM. `status` is the
 * run's outcome (STATEMENT_MISSING and RUNNING write no statement and no match). Once per date with
 * a statement: a second statement would supersede the first, which this helper does not do.
 */
export async function reconcileDay(
  db: Db,
  input: {
    agencyCode: string;
    businessDate: string;
    matched?: readonly string[];
    held?: readonly string[];
    accepted?: readonly string[];
    status?: 'BALANCED' | 'UNBALANCED' | 'STATEMENT_MISSING' | 'RUNNING';
    at?: Date;
  },
): Promise<ReconciledDay> {
  const at = input.at ?? new Date();
  const status = input.status ?? 'BALANCED';
  const agency = (await db('parties').where({ role: 'agency', code: input.agencyCode }).first('id')) as { id: string };
  return db.transaction(async (trx) => {
    const matched = input.matched ?? [];
    const payments = matched.length === 0 ? [] : await trx('payments').whereIn('id', [...matched]).orderBy('id');
    let statementRowId: string | null = null;
    if (status === 'BALANCED' || status === 'UNBALANCED') {
      const previous = await trx('agency_statements').where({ agency_party_id: agency.id, business_date: input.businessDate }).max<{ max: number | null }[]>({ max: 'file_seq' });
      const total = payments.reduce((sum, p) => sum + Math.round(Number(p.amount) * 100), 0);
      const [statement] = await trx('agency_statements')
        .insert({
          statement_id: id('S'),
          agency_party_id: agency.id,
          agency_code: input.agencyCode,
          business_date: input.businessDate,
          file_seq: Number(previous[0]?.max ?? 0) + 1,
          format: 'TFS1',
          source: 'UPLOAD',
          sha256: crypto.randomBytes(32).toString('hex'),
          size_bytes: 100,
          pay_count: payments.length,
          pay_total: (total / 100).toFixed(2),
          refund_count: 0,
          refund_total: '0.00',
          received_at: at,
        })
        .returning('id');
      statementRowId = String((statement as { id: string }).id);
      if (payments.length > 0) {
        await trx('agency_statement_lines').insert(
          payments.map((p, index) => ({ statement_id: statementRowId, line_no: index + 1, kind: 'PAY', agency_txn_id: p.agency_txn_id, pay_code: p.pay_code, amount: p.amount, occurred_at: p.paid_at, channel: p.channel })),
        );
      }
    }
    const [run] = await trx('reconciliation_runs')
      .insert({
        run_id: id('R'),
        agency_party_id: agency.id,
        agency_code: input.agencyCode,
        business_date: input.businessDate,
        statement_id: statementRowId,
        status,
        started_at: at,
        finished_at: status === 'RUNNING' ? null : at,
      })
      .returning('id');
    const runRowId = String((run as { id: string }).id);
    if (payments.length > 0) {
      await trx('statement_matches').insert(payments.map((p, index) => ({ payment_id: p.id, statement_id: statementRowId, line_no: index + 1, run_id: runRowId, backfilled: false, matched_at: at })));
    }
    const discrepancies = [...(input.held ?? []).map((paymentId) => ({ paymentId, accepted: false })), ...(input.accepted ?? []).map((paymentId) => ({ paymentId, accepted: true }))];
    for (const { paymentId, accepted } of discrepancies) {
      const p = await trx('payments').where({ id: paymentId }).first();
      await trx('reconciliation_discrepancies').insert({
        discrepancy_id: id('D'),
        agency_party_id: agency.id,
        agency_code: input.agencyCode,
        business_date: input.businessDate,
        type: 'SHORTAGE',
        status: accepted ? 'RESOLVED' : 'OPEN',
        agency_txn_id: p.agency_txn_id,
        payment_id: p.id,
        platform_pay_code: p.pay_code,
        platform_amount: p.amount,
        first_run_id: runRowId,
        last_run_id: runRowId,
        resolution_action: accepted ? 'ACCEPT_PLATFORM' : null,
        resolved_at: accepted ? at : null,
        created_at: at,
        updated_at: at,
      });
    }
    return { runRowId, statementRowId };
  });
}

/** The row id of a payment, by the agency's transaction id. */
export async function paymentRowId(db: Db, agencyTxnId: string): Promise<string> {
  return String(((await db('payments').where({ agency_txn_id: agencyTxnId }).first('id')) as { id: string }).id);
}
