import type { Knex } from 'knex';

/**
 * Instructions (指令, docs/settlement.md §1): an order to one party (the executor) to move money.
 *
 * - `instructions`: one row per instruction. `instruction_no` is `TF` + `S`|`R` + the Shanghai
 *   date of creation + 8 digits drawn from `instruction_no_seq`. A SETTLEMENT moves money from
 *   the agency's clearing account (`debit_account_no`) to a receiving account
 *   (`credit_account_no`); a REFUND pays a payee (`payee_*`, the account number encrypted with the
 *   field cipher like a payer's). `status` moves by the one table in src/domain/instructions.ts.
 *   `reported_*` keep the executor's report as it was first made, so the same report again replays
 *   and another is IDEMPOTENCY_CONFLICT. `reissue_of` names the FAILED instruction a reissue
 *   takes over (at most one reissue each).
 * - `instruction_lines`: a settlement's lines by (itemCode, incomeSortCode, budgetLevel), summing
 *   exactly to its amount.
 * - `instruction_payment_items`: each payment item (payment, notice line) a settlement settles,
 *   with the amount it settles (its amount and late fee, less its part of the agency's refunds).
 *   `live` is true while the instruction is not FAILED; the partial unique index makes "each
 *   payment item in at most one live settlement instruction" a property of the database
 *   (contracts/decisions/0130-instructions.md).
 *
 * The money columns never change; only the status columns move.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SEQUENCE instruction_no_seq MINVALUE 1 MAXVALUE 99999999 CYCLE;

    CREATE TABLE instructions (
      id                 bigserial PRIMARY KEY,
      instruction_no     text NOT NULL UNIQUE CHECK (instruction_no ~ '^TF[SR][0-9]{16}$'),
      type               text NOT NULL CHECK (type IN ('SETTLEMENT', 'REFUND')),
      status             text NOT NULL CHECK (status IN ('CREATED', 'EXECUTED', 'CONFIRMED', 'MISMATCHED', 'FAILED', 'UNCONFIRMED')),
      executor_party_id  bigint NOT NULL REFERENCES parties (id),
      agency_party_id    bigint REFERENCES parties (id),
      agency_code        text,
      debit_account_no   text NOT NULL REFERENCES accounts (account_no),
      credit_account_no  text REFERENCES accounts (account_no),
      payee_name         text,
      payee_account_no   text,
      payee_bank_name    text,
      business_date      date NOT NULL,
      amount             numeric(18, 2) NOT NULL CHECK (amount > 0),
      refund_id          bigint REFERENCES refunds (id),
      reissue_of         bigint UNIQUE REFERENCES instructions (id),
      deadline           timestamptz NOT NULL,
      reported_status    text CHECK (reported_status IN ('EXECUTED', 'FAILED')),
      reported_at        timestamptz,
      executed_at        timestamptz,
      executed_reference text,
      failure_reason     text,
      confirmed_at       timestamptz,
      created_at         timestamptz NOT NULL,
      updated_at         timestamptz NOT NULL,
      CHECK ((credit_account_no IS NULL) <> (payee_account_no IS NULL)),
      CHECK ((payee_name IS NULL) = (payee_account_no IS NULL) AND (payee_account_no IS NULL) = (payee_bank_name IS NULL)),
      CHECK (type <> 'SETTLEMENT' OR (agency_party_id IS NOT NULL AND agency_code IS NOT NULL AND credit_account_no IS NOT NULL AND refund_id IS NULL)),
      CHECK (type <> 'REFUND' OR instruction_no LIKE 'TFR%'),
      CHECK (type <> 'SETTLEMENT' OR instruction_no LIKE 'TFS%'),
      CHECK ((status = 'FAILED') = (failure_reason IS NOT NULL)),
      CHECK ((status = 'CONFIRMED') = (confirmed_at IS NOT NULL)),
      CHECK ((reported_status IS NULL) = (reported_at IS NULL))
    );
    CREATE INDEX instructions_executor_status ON instructions (executor_party_id, status, id);
    CREATE INDEX instructions_status_deadline ON instructions (deadline) WHERE status IN ('CREATED', 'EXECUTED');
    CREATE INDEX instructions_agency_date ON instructions (agency_party_id, business_date);
    CREATE INDEX instructions_debit_account ON instructions (debit_account_no, id);
    CREATE INDEX instructions_credit_account ON instructions (credit_account_no, id);
    CREATE INDEX instructions_type_status ON instructions (type, status, id);

    CREATE TABLE instruction_lines (
      instruction_id   bigint NOT NULL REFERENCES instructions (id),
      line_no          integer NOT NULL CHECK (line_no >= 1),
      item_code        text NOT NULL,
      income_sort_code text NOT NULL,
      budget_level     smallint NOT NULL CHECK (budget_level BETWEEN 0 AND 5),
      amount           numeric(18, 2) NOT NULL CHECK (amount > 0),
      payment_count    integer NOT NULL CHECK (payment_count >= 1),
      PRIMARY KEY (instruction_id, line_no),
      UNIQUE (instruction_id, item_code, income_sort_code, budget_level)
    );

    -- No foreign keys: the rows are written only by the settle statement, which takes them from a
    -- join of payments and notice_items, and by a reissue copying them; a per-row key check was
    -- most of the settle job's time (decision 0131). \`ledger verify\` checks they all resolve.
    CREATE TABLE instruction_payment_items (
      instruction_id bigint NOT NULL,
      payment_id     bigint NOT NULL,
      notice_id      bigint NOT NULL,
      line_position  smallint NOT NULL,
      amount         numeric(18, 2) NOT NULL CHECK (amount > 0),
      live           boolean NOT NULL,
      PRIMARY KEY (instruction_id, payment_id, line_position)
    );
    CREATE UNIQUE INDEX instruction_payment_items_live ON instruction_payment_items (payment_id, line_position) WHERE live;
    CREATE INDEX instruction_payment_items_payment ON instruction_payment_items (payment_id);

    ALTER TABLE journal_entries
      ADD CONSTRAINT journal_entries_instruction_id_fkey FOREIGN KEY (instruction_id) REFERENCES instructions (id);

    CREATE FUNCTION instruction_records_keep_their_money() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'instruction_payment_items' THEN
        IF (to_jsonb(NEW) - 'live') = (to_jsonb(OLD) - 'live') AND (to_jsonb(OLD) ->> 'live')::boolean AND NOT (to_jsonb(NEW) ->> 'live')::boolean THEN
          RETURN NEW;
        END IF;
      END IF;
      IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'instructions' THEN
        IF (to_jsonb(NEW) - 'status' - 'reported_status' - 'reported_at' - 'executed_at' - 'executed_reference' - 'failure_reason' - 'confirmed_at' - 'updated_at')
           = (to_jsonb(OLD) - 'status' - 'reported_status' - 'reported_at' - 'executed_at' - 'executed_reference' - 'failure_reason' - 'confirmed_at' - 'updated_at') THEN
          RETURN NEW;
        END IF;
      END IF;
      RAISE EXCEPTION '% keeps its money: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
    END
    $$;
    CREATE TRIGGER instructions_keep_money BEFORE UPDATE OR DELETE ON instructions
      FOR EACH ROW EXECUTE FUNCTION instruction_records_keep_their_money();
    CREATE TRIGGER instruction_lines_append_only BEFORE UPDATE OR DELETE ON instruction_lines
      FOR EACH ROW EXECUTE FUNCTION instruction_records_keep_their_money();
    CREATE TRIGGER instruction_payment_items_keep_money BEFORE UPDATE OR DELETE ON instruction_payment_items
      FOR EACH ROW EXECUTE FUNCTION instruction_records_keep_their_money();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
