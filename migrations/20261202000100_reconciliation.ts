import type { Knex } from 'knex';

/**
 * Nightly reconciliation (对账, docs/reconciliation.md): the tables every part of it shares.
 *
 * - `agency_statements`: one row per accepted statement file of an agency for a business date.
 *   The current file of a date is the one not superseded (`superseded_by IS NULL`), at most one
 *   per (agency, date) by index; a replacement needs a strictly higher `file_seq` (the service
 *   checks it under the (agency, date) lock). `sha256` is the whole file's: the same file again is
 *   a replay.
 * - `agency_statement_lines`: its normalised lines, whatever the format (TFS1 or APPBILL): a `PAY`
 *   line carries `agency_txn_id`, `pay_code` and `channel`; a `REFUND` line carries the agency's
 *   refund reference in `agency_txn_id` and the platform's `instruction_no`. `line_no` is the
 *   line's number in the file (1 = the first line), so problems and discrepancies point at it.
 * - `reconciliation_runs`: one row per run of (agency, date), with its outcome counts.
 * - `statement_matches`: a statement line matched with a payment. Inserted, never an update of the
 *   payment; a superseded file's matches are released (`released_at`), the one change a match
 *   allows. A payment has at most one live match and a line at most one: unique indexes.
 * - `reconciliation_discrepancies`: one per (agency, agencyTxnId, type) while unresolved
 *   (`CARRIED_OVER` or `OPEN`), by index; a rerun updates it.
 * - `finance_proposals`: the one maker-checker pattern (docs/settlement.md §2) for every target
 *   — discrepancies now, unidentified bank postings, instructions and refunds later — so
 *   `target_kind` names the table `target_id` points into. One pending proposal per target, and
 *   `proposal_ref` is idempotent per proposing party.
 * - `daily_closes`: the sealed days (docs/settlement.md §5). The close job fills it; statements and
 *   corrections for a date that has a row are refused with `BUSINESS_DATE_CLOSED`.
 *
 * Statements, their lines and closes are append-only (triggers); the other tables move a status.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE agency_statements (
      id              bigserial PRIMARY KEY,
      statement_id    text NOT NULL UNIQUE CHECK (statement_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      agency_party_id bigint NOT NULL REFERENCES parties (id),
      agency_code     text NOT NULL,
      business_date   date NOT NULL,
      file_seq        integer NOT NULL CHECK (file_seq >= 1),
      format          text NOT NULL CHECK (format IN ('TFS1', 'APPBILL')),
      source          text NOT NULL CHECK (source IN ('UPLOAD', 'INBOX')),
      sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
      pay_count       integer NOT NULL CHECK (pay_count >= 0),
      pay_total       numeric(18, 2) NOT NULL CHECK (pay_total >= 0),
      refund_count    integer NOT NULL CHECK (refund_count >= 0),
      refund_total    numeric(18, 2) NOT NULL CHECK (refund_total >= 0),
      generated_at    timestamptz,
      received_at     timestamptz NOT NULL,
      superseded_by   bigint REFERENCES agency_statements (id),
      superseded_at   timestamptz,
      CHECK ((superseded_by IS NULL) = (superseded_at IS NULL)),
      UNIQUE (agency_party_id, business_date, file_seq),
      UNIQUE (agency_party_id, business_date, sha256)
    );
    CREATE UNIQUE INDEX agency_statements_current ON agency_statements (agency_party_id, business_date) WHERE superseded_by IS NULL;

    CREATE TABLE agency_statement_lines (
      statement_id  bigint NOT NULL REFERENCES agency_statements (id),
      line_no       integer NOT NULL CHECK (line_no >= 1),
      kind          text NOT NULL CHECK (kind IN ('PAY', 'REFUND')),
      agency_txn_id text NOT NULL CHECK (agency_txn_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      pay_code      text CHECK (pay_code ~ '^[A-Za-z0-9_-]{1,64}$'),
      instruction_no text,
      amount        numeric(18, 2) NOT NULL CHECK (amount > 0),
      occurred_at   timestamptz NOT NULL,
      channel       text,
      PRIMARY KEY (statement_id, line_no),
      CHECK (CASE kind WHEN 'PAY' THEN pay_code IS NOT NULL AND channel IS NOT NULL AND instruction_no IS NULL
                       ELSE instruction_no IS NOT NULL AND pay_code IS NULL END)
    );
    -- No agencyTxnId twice in one file (of a kind), and the lookup matching joins on.
    CREATE UNIQUE INDEX agency_statement_lines_txn ON agency_statement_lines (statement_id, kind, agency_txn_id);

    CREATE TABLE reconciliation_runs (
      id              bigserial PRIMARY KEY,
      run_id          text NOT NULL UNIQUE CHECK (run_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      agency_party_id bigint NOT NULL REFERENCES parties (id),
      agency_code     text NOT NULL,
      business_date   date NOT NULL,
      statement_id    bigint REFERENCES agency_statements (id),
      status          text NOT NULL CHECK (status IN ('RUNNING', 'BALANCED', 'UNBALANCED', 'STATEMENT_MISSING')),
      outcomes        jsonb,
      platform_total  numeric(18, 2),
      statement_total numeric(18, 2),
      started_at      timestamptz NOT NULL,
      finished_at     timestamptz,
      CHECK ((status = 'RUNNING') = (finished_at IS NULL)),
      CHECK (status <> 'STATEMENT_MISSING' OR statement_id IS NULL)
    );
    CREATE INDEX reconciliation_runs_agency_date ON reconciliation_runs (agency_party_id, business_date, id);
    CREATE INDEX reconciliation_runs_date ON reconciliation_runs (business_date, id);

    CREATE TABLE statement_matches (
      id           bigserial PRIMARY KEY,
      payment_id   bigint NOT NULL REFERENCES payments (id),
      statement_id bigint NOT NULL,
      line_no      integer NOT NULL,
      run_id       bigint NOT NULL REFERENCES reconciliation_runs (id),
      backfilled   boolean NOT NULL,
      matched_at   timestamptz NOT NULL,
      released_at  timestamptz,
      FOREIGN KEY (statement_id, line_no) REFERENCES agency_statement_lines (statement_id, line_no)
    );
    CREATE UNIQUE INDEX statement_matches_live_payment ON statement_matches (payment_id) WHERE released_at IS NULL;
    CREATE UNIQUE INDEX statement_matches_live_line ON statement_matches (statement_id, line_no) WHERE released_at IS NULL;

    CREATE TABLE reconciliation_discrepancies (
      id                 bigserial PRIMARY KEY,
      discrepancy_id     text NOT NULL UNIQUE CHECK (discrepancy_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      agency_party_id    bigint NOT NULL REFERENCES parties (id),
      agency_code        text NOT NULL,
      business_date      date NOT NULL,
      type               text NOT NULL CHECK (type IN ('OVERAGE', 'SHORTAGE', 'AMOUNT_MISMATCH', 'PAY_CODE_MISMATCH', 'REFUND_MISMATCH')),
      status             text NOT NULL CHECK (status IN ('CARRIED_OVER', 'OPEN', 'AUTO_RESOLVED', 'RESOLVED', 'SUPERSEDED')),
      agency_txn_id      text NOT NULL,
      payment_id         bigint REFERENCES payments (id),
      platform_pay_code  text,
      platform_amount    numeric(18, 2),
      statement_id       bigint REFERENCES agency_statements (id),
      statement_line_no  integer,
      statement_pay_code text,
      statement_amount   numeric(18, 2),
      instruction_no     text,
      first_run_id       bigint NOT NULL REFERENCES reconciliation_runs (id),
      last_run_id        bigint NOT NULL REFERENCES reconciliation_runs (id),
      resolution_action  text CHECK (resolution_action IN ('REVERSE_PAYMENT', 'ACCEPT_PLATFORM', 'ACCEPT_STATEMENT', 'WRITE_OFF')),
      resolved_at        timestamptz,
      created_at         timestamptz NOT NULL,
      updated_at         timestamptz NOT NULL,
      CHECK ((platform_amount IS NULL) = (platform_pay_code IS NULL) OR type = 'REFUND_MISMATCH'),
      CHECK ((statement_id IS NULL) = (statement_line_no IS NULL)),
      CHECK ((status = 'RESOLVED') = (resolution_action IS NOT NULL)),
      CHECK ((status IN ('RESOLVED', 'AUTO_RESOLVED')) = (resolved_at IS NOT NULL))
    );
    CREATE UNIQUE INDEX reconciliation_discrepancies_unresolved ON reconciliation_discrepancies (agency_party_id, agency_txn_id, type) WHERE status IN ('CARRIED_OVER', 'OPEN');
    CREATE INDEX reconciliation_discrepancies_agency_date ON reconciliation_discrepancies (agency_party_id, business_date);
    CREATE INDEX reconciliation_discrepancies_status ON reconciliation_discrepancies (status, id);
    -- Holds: a payment with an unresolved discrepancy does not settle.
    CREATE INDEX reconciliation_discrepancies_held_payment ON reconciliation_discrepancies (payment_id) WHERE status IN ('CARRIED_OVER', 'OPEN');

    ALTER TABLE journal_entries
      ADD CONSTRAINT journal_entries_discrepancy_id_fkey FOREIGN KEY (discrepancy_id) REFERENCES reconciliation_discrepancies (id);

    CREATE TABLE finance_proposals (
      id                   bigserial PRIMARY KEY,
      proposal_id          text NOT NULL UNIQUE CHECK (proposal_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      target_kind          text NOT NULL CHECK (target_kind IN ('DISCREPANCY', 'UNIDENTIFIED', 'INSTRUCTION', 'REFUND')),
      target_id            bigint NOT NULL,
      proposal_ref         text NOT NULL CHECK (proposal_ref ~ '^[A-Za-z0-9_-]{1,64}$'),
      action               text NOT NULL,
      reason               text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      -- The action's own fields ({instructionNo}, {payee} — a payee's account number encrypted).
      fields               jsonb NOT NULL DEFAULT '{}'::jsonb,
      -- SHA-256 of the canonical JSON of the proposing request: the same proposalRef with other
      -- content is IDEMPOTENCY_CONFLICT.
      request_hash         text NOT NULL CHECK (request_hash ~ '^[0-9a-f]{64}$'),
      proposed_by_party_id bigint NOT NULL REFERENCES parties (id),
      status               text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
      decided_by_party_id  bigint REFERENCES parties (id),
      comment              text,
      created_at           timestamptz NOT NULL,
      decided_at           timestamptz,
      UNIQUE (proposed_by_party_id, proposal_ref),
      CHECK ((status = 'PENDING') = (decided_at IS NULL)),
      CHECK ((decided_at IS NULL) = (decided_by_party_id IS NULL)),
      CHECK (decided_by_party_id IS NULL OR decided_by_party_id <> proposed_by_party_id)
    );
    CREATE UNIQUE INDEX finance_proposals_pending ON finance_proposals (target_kind, target_id) WHERE status = 'PENDING';
    CREATE INDEX finance_proposals_target ON finance_proposals (target_kind, target_id, id);

    CREATE TABLE daily_closes (
      business_date       date PRIMARY KEY,
      previous_close_hash text NOT NULL CHECK (previous_close_hash ~ '^[0-9a-f]{64}$'),
      -- Exactly the canonical JSON that was hashed and signed.
      content             text NOT NULL,
      close_hash          text NOT NULL UNIQUE CHECK (close_hash ~ '^[0-9a-f]{64}$'),
      signature           text NOT NULL,
      key_id              text NOT NULL,
      created_at          timestamptz NOT NULL
    );

    CREATE FUNCTION reconciliation_records_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'agency_statements'
         AND (to_jsonb(NEW) - 'superseded_by' - 'superseded_at') = (to_jsonb(OLD) - 'superseded_by' - 'superseded_at')
         AND OLD.superseded_by IS NULL THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
    END
    $$;
    CREATE TRIGGER agency_statements_append_only BEFORE UPDATE OR DELETE ON agency_statements
      FOR EACH ROW EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER agency_statement_lines_append_only BEFORE UPDATE OR DELETE ON agency_statement_lines
      FOR EACH ROW EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER daily_closes_append_only BEFORE UPDATE OR DELETE ON daily_closes
      FOR EACH ROW EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER agency_statements_no_truncate BEFORE TRUNCATE ON agency_statements
      FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER agency_statement_lines_no_truncate BEFORE TRUNCATE ON agency_statement_lines
      FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_records_are_append_only();
    CREATE TRIGGER daily_closes_no_truncate BEFORE TRUNCATE ON daily_closes
      FOR EACH STATEMENT EXECUTE FUNCTION reconciliation_records_are_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
