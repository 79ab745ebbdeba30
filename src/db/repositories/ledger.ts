import type { Knex } from 'knex';

/**
 * The invariants `ledger verify` checks (lifecycle.md §4, settlement.md §6), one query each. A
 * query returns the rows that break its invariant — none when it holds — as `{subject, detail}`:
 * `subject` names what is broken (an entry, an agency, a payCode), `detail` says how, as JSON.
 *
 * Each capability that moves money adds its part here when it lands: settlement subtracts executed
 * settlements from the agencies' clearing balances and moves revenue_pending to revenue; refunds
 * subtract confirmed agency refunds; corrections add their reversals. Until then a movement these
 * queries do not know of shows up as a break, which is the point.
 */
export interface LedgerCheck {
  name: string;
  /** The invariant, in a sentence. */
  invariant: string;
  /** Rows `{subject text, detail json}` that break it, at most LIMIT @limit. */
  sql: string;
}

/** Amounts compared as NUMERIC in SQL and written as text in details, never as JSON numbers. */
const PAID_STATUSES = `('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')`;

/** A payment that applied and still stands: its notice is paid by it. */
const LIVE_APPLIED = `p.unapplied_reason IS NULL AND p.status <> 'REVERSED'`;

export const LEDGER_CHECKS: LedgerCheck[] = [
  {
    name: 'entriesBalance',
    invariant: 'every journal entry has at least two lines and its debits equal its credits',
    sql: `
      SELECT 'entry ' || e.id AS subject,
             json_build_object('kind', e.kind, 'lines', count(l.entry_id),
                               'debit', COALESCE(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0)::text,
                               'credit', COALESCE(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)::text) AS detail
        FROM journal_entries e
        LEFT JOIN journal_lines l ON l.entry_id = e.id
       GROUP BY e.id
      HAVING count(l.entry_id) < 2
          OR COALESCE(sum(l.amount) FILTER (WHERE l.side = 'DEBIT'), 0) <> COALESCE(sum(l.amount) FILTER (WHERE l.side = 'CREDIT'), 0)
       ORDER BY e.id
       LIMIT @limit`,
  },
  {
    name: 'trialBalance',
    invariant: 'the trial balance is zero: all debits equal all credits',
    sql: `
      SELECT 'ledger' AS subject,
             json_build_object('debit', COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0)::text,
                               'credit', COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)::text) AS detail
        FROM journal_lines
      HAVING COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0) <> COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)
       LIMIT @limit`,
  },
  {
    name: 'agencyClearing',
    invariant: "each agency's clearing balance equals the sum of its payments not reversed (and not yet settled)",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length('agency_clearing:') + 1) AS agency_code,
               sum(CASE side WHEN 'DEBIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE account LIKE 'agency\\_clearing:%' GROUP BY account
      ), expected AS (
        SELECT agency_code, sum(amount) AS balance FROM payments WHERE status <> 'REVERSED' GROUP BY agency_code
      )
      SELECT 'agency ' || COALESCE(l.agency_code, x.agency_code) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'payments', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.agency_code = l.agency_code
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'paidNotices',
    invariant: "each paid notice has exactly one standing applied payment, and its paid amount is that payment's amount; no other notice has one",
    sql: `
      SELECT 'notice ' || n.pay_code AS subject,
             json_build_object('status', n.status, 'paidAmount', n.paid_amount::text,
                               'payments', json_agg(json_build_object('paymentId', p.payment_id, 'amount', p.amount::text)) FILTER (WHERE p.id IS NOT NULL)) AS detail
        FROM notices n
        LEFT JOIN payments p ON p.notice_id = n.id AND ${LIVE_APPLIED}
       WHERE n.status IN ${PAID_STATUSES} OR p.id IS NOT NULL
       GROUP BY n.id
      HAVING NOT (n.status IN ${PAID_STATUSES})
          OR count(p.id) <> 1
          OR bool_or(p.amount IS DISTINCT FROM n.paid_amount)
       ORDER BY n.id
       LIMIT @limit`,
  },
  {
    name: 'noticeLateFees',
    invariant: "each paid notice's paid amount is its total plus its late fee, and its lines' late fees add up to it",
    sql: `
      SELECT 'notice ' || n.pay_code AS subject,
             json_build_object('totalAmount', n.total_amount::text, 'lateFeePaid', n.late_fee_paid::text, 'paidAmount', n.paid_amount::text,
                               'linesLateFee', sum(i.late_fee_paid)::text, 'linesWithoutLateFee', count(*) FILTER (WHERE i.late_fee_paid IS NULL)) AS detail
        FROM notices n
        JOIN notice_items i ON i.notice_id = n.id
       WHERE n.status IN ${PAID_STATUSES}
       GROUP BY n.id
      HAVING n.paid_amount IS DISTINCT FROM n.total_amount + n.late_fee_paid
          OR count(*) FILTER (WHERE i.late_fee_paid IS NULL) > 0
          OR sum(i.late_fee_paid) IS DISTINCT FROM n.late_fee_paid
       ORDER BY n.id
       LIMIT @limit`,
  },
  {
    name: 'suspenseUnapplied',
    invariant: "each agency's unapplied suspense balance equals its unapplied money not reversed and not yet refunded",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length('suspense:unapplied:') + 1) AS agency_code,
               sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE account LIKE 'suspense:unapplied:%' GROUP BY account
      ), expected AS (
        SELECT p.agency_code,
               sum(p.amount) - COALESCE(sum((SELECT sum(r.amount) FROM refunds r WHERE r.payment_id = p.id AND r.status = 'SUCCEEDED')), 0) AS balance
          FROM payments p
         WHERE p.unapplied_reason IS NOT NULL AND p.status <> 'REVERSED'
         GROUP BY p.agency_code
      )
      SELECT 'agency ' || COALESCE(l.agency_code, x.agency_code) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'unappliedNotRefunded', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.agency_code = l.agency_code
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'revenuePending',
    invariant: "each receiving account's pending revenue equals the items (with their late fees) of the standing applied payments (not yet settled)",
    sql: `
      WITH ledger AS (
        SELECT substr(account, length('revenue_pending:') + 1) AS account_no,
               sum(CASE side WHEN 'CREDIT' THEN amount ELSE -amount END) AS balance
          FROM journal_lines WHERE account LIKE 'revenue\\_pending:%' GROUP BY account
      ), expected AS (
        SELECT i.receiving_account_no AS account_no, sum(i.amount + COALESCE(i.late_fee_paid, 0)) AS balance
          FROM payments p JOIN notice_items i ON i.notice_id = p.notice_id
         WHERE ${LIVE_APPLIED}
         GROUP BY i.receiving_account_no
      )
      SELECT 'account ' || COALESCE(l.account_no, x.account_no) AS subject,
             json_build_object('ledger', COALESCE(l.balance, 0)::text, 'items', COALESCE(x.balance, 0)::text) AS detail
        FROM ledger l FULL JOIN expected x ON x.account_no = l.account_no
       WHERE COALESCE(l.balance, 0) <> COALESCE(x.balance, 0)
       ORDER BY 1
       LIMIT @limit`,
  },
  {
    name: 'paymentEntries',
    invariant: "each payment has exactly one posting entry, of its kind, debiting its agency's clearing account with its amount",
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('amount', p.amount::text, 'entries', count(DISTINCT e.id),
                               'kinds', json_agg(DISTINCT e.kind) FILTER (WHERE e.id IS NOT NULL),
                               'clearingDebit', COALESCE(sum(l.amount), 0)::text) AS detail
        FROM payments p
        LEFT JOIN journal_entries e ON e.payment_id = p.id AND e.kind IN ('PAYMENT_SUCCEEDED', 'PAYMENT_UNAPPLIED')
        LEFT JOIN journal_lines l ON l.entry_id = e.id AND l.side = 'DEBIT' AND l.account = 'agency_clearing:' || p.agency_code
       GROUP BY p.id
      HAVING count(DISTINCT e.id) <> 1
          OR bool_or(e.kind IS DISTINCT FROM CASE WHEN p.unapplied_reason IS NULL THEN 'PAYMENT_SUCCEEDED' ELSE 'PAYMENT_UNAPPLIED' END)
          OR COALESCE(sum(l.amount), 0) <> p.amount
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'paymentAgencies',
    invariant: 'each payment names a registered agency, by its id and its code',
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('agencyPartyId', p.agency_party_id::text, 'agencyCode', p.agency_code, 'partyRole', a.role, 'partyCode', a.code) AS detail
        FROM payments p
        LEFT JOIN parties a ON a.id = p.agency_party_id
       WHERE a.id IS NULL OR a.role <> 'agency' OR a.code <> p.agency_code
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'unappliedRefunds',
    invariant: 'each unapplied payment has its refund obligation, for its amount',
    sql: `
      SELECT 'payment ' || p.payment_id AS subject,
             json_build_object('amount', p.amount::text, 'refundId', r.refund_id, 'refundAmount', r.amount::text) AS detail
        FROM payments p
        LEFT JOIN refunds r ON r.payment_id = p.id AND r.refund_no IS NULL
       WHERE p.unapplied_reason IS NOT NULL AND (r.id IS NULL OR r.amount <> p.amount)
       ORDER BY p.id
       LIMIT @limit`,
  },
  {
    name: 'paymentKeys',
    invariant: "each payment is bound by exactly its agency's key, and each key names a payment",
    sql: `
      (SELECT 'payment ' || p.payment_id AS subject, json_build_object('agencyTxnId', p.agency_txn_id, 'keys', count(k.payment_id)) AS detail
         FROM payments p
         LEFT JOIN payment_keys k ON k.payment_id = p.id
        GROUP BY p.id
       HAVING count(k.payment_id) <> 1
           OR bool_or(k.agency_party_id <> p.agency_party_id OR k.agency_txn_id <> p.agency_txn_id)
        LIMIT @limit)
      UNION ALL
      (SELECT 'key ' || k.agency_txn_id AS subject, json_build_object('agencyPartyId', k.agency_party_id::text, 'paymentRowId', k.payment_id::text) AS detail
         FROM payment_keys k
         LEFT JOIN payments p ON p.id = k.payment_id
        WHERE p.id IS NULL
        LIMIT @limit)`,
  },
];

export interface LedgerTotals {
  entries: number;
  lines: number;
  debit: string;
  credit: string;
}

export async function ledgerTotals(db: Knex | Knex.Transaction): Promise<LedgerTotals> {
  const result = await db.raw<{ rows: Array<{ entries: string; lines: string; debit: string; credit: string }> }>(`
    SELECT (SELECT count(*) FROM journal_entries)::text AS entries,
           count(*)::text AS lines,
           COALESCE(sum(amount) FILTER (WHERE side = 'DEBIT'), 0)::text AS debit,
           COALESCE(sum(amount) FILTER (WHERE side = 'CREDIT'), 0)::text AS credit
      FROM journal_lines`);
  const row = result.rows[0] as { entries: string; lines: string; debit: string; credit: string };
  return { entries: Number(row.entries), lines: Number(row.lines), debit: row.debit, credit: row.credit };
}

/** The rows breaking one check, at most `limit`. */
export async function runLedgerCheck(db: Knex | Knex.Transaction, check: LedgerCheck, limit: number): Promise<Array<{ subject: string; detail: Record<string, unknown> }>> {
  const result = await db.raw<{ rows: Array<{ subject: string; detail: Record<string, unknown> }> }>(check.sql.replace(/@limit/g, '?'), Array.from({ length: (check.sql.match(/@limit/g) ?? []).length }, () => limit));
  return result.rows;
}
