import type { Knex } from 'knex';

/**
 * Bank postings and camt.053 statements (docs/settlement.md §2;
 * contracts/decisions/0135-bank-postings.md, 0136-camt053-statements.md).
 *
 * - `bank_statements`: one row per accepted camt.053 file of a bank. `sha256` is the whole file's:
 *   the same file again is a replay. It keeps what the file says of itself (`message_id` =
 *   `GrpHdr/MsgId`, `file_statement_id` = `Stmt/Id`, `electronic_seq_no`), the account, the
 *   opening and closing booked balances (signed: a debit balance is negative) and the counts.
 * - `bank_postings`: one row per (bank, `bank_ref`) — the idempotency key, by a unique
 *   constraint, so one entry arriving by JSON and by camt.053 is one row. `source` says how it
 *   arrived first (`statement_id` only for a camt.053 posting). The counterparty's account
 *   number and name are a person's data (a `RETURN` pays them back), so they are stored
 *   encrypted, like payers' accounts. `instruction_no` is the number the bank gave, as given;
 *   `instruction_id` / `matched_instruction_no` the instruction it matched or was linked to (a
 *   bigint without a foreign key: the `instructions` table comes with settlement, whose
 *   migration adds it).
 * - `bank_statement_postings`: which posting each entry (or `TxDtls`) of a statement became, in
 *   file order, with the status it was answered with, so a replay answers the original body.
 *
 * Append-only except the posting's resolution: statements and their posting lists refuse UPDATE,
 * DELETE and TRUNCATE; a posting refuses them too, except an UPDATE that moves `status` out of
 * `UNIDENTIFIED` (matched in the posting's own transaction, or linked / returned later by
 * finance) and, with it, sets `instruction_id`, `matched_instruction_no` and `resolved_at` once.
 *
 * `journal_entries.bank_posting_id` (migration 20261201000300) gets its foreign key here.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE bank_statements (
      id                bigserial PRIMARY KEY,
      statement_id      text NOT NULL UNIQUE CHECK (statement_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      bank_party_id     bigint NOT NULL REFERENCES parties (id),
      account_no        text NOT NULL REFERENCES accounts (account_no),
      sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      size_bytes        bigint NOT NULL CHECK (size_bytes >= 0),
      camt_version      text NOT NULL CHECK (camt_version IN ('camt.053.001.02', 'camt.053.001.04', 'camt.053.001.06', 'camt.053.001.08')),
      message_id        text NOT NULL,
      file_statement_id text NOT NULL,
      electronic_seq_no text,
      opening_balance   numeric(18, 2) NOT NULL,
      closing_balance   numeric(18, 2) NOT NULL,
      entry_count       integer NOT NULL CHECK (entry_count >= 0),
      posting_count     integer NOT NULL CHECK (posting_count >= 0),
      credit_total      numeric(18, 2) NOT NULL CHECK (credit_total >= 0),
      debit_total       numeric(18, 2) NOT NULL CHECK (debit_total >= 0),
      received_at       timestamptz NOT NULL,
      CHECK (opening_balance + credit_total - debit_total = closing_balance),
      UNIQUE (bank_party_id, sha256)
    );

    CREATE TABLE bank_postings (
      id                      bigserial PRIMARY KEY,
      posting_id              text NOT NULL UNIQUE CHECK (posting_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      bank_party_id           bigint NOT NULL REFERENCES parties (id),
      bank_ref                text NOT NULL CHECK (bank_ref ~ '^[!-~]{1,64}$'),
      account_no              text NOT NULL REFERENCES accounts (account_no),
      direction               text NOT NULL CHECK (direction IN ('CREDIT', 'DEBIT')),
      amount                  numeric(18, 2) NOT NULL CHECK (amount > 0),
      value_date              date NOT NULL,
      instruction_no          text,
      memo                    text,
      counterparty_name       text,
      counterparty_account_no text,
      status                  text NOT NULL CHECK (status IN ('MATCHED', 'MISMATCHED', 'UNIDENTIFIED', 'LINKED', 'RETURNED')),
      instruction_id          bigint,
      matched_instruction_no  text,
      source                  text NOT NULL CHECK (source IN ('JSON', 'CAMT053')),
      statement_id            bigint REFERENCES bank_statements (id),
      created_at              timestamptz NOT NULL,
      resolved_at             timestamptz,
      UNIQUE (bank_party_id, bank_ref),
      CHECK ((source = 'CAMT053') = (statement_id IS NOT NULL)),
      CHECK ((status = 'UNIDENTIFIED') = (resolved_at IS NULL)),
      CHECK ((status IN ('MATCHED', 'MISMATCHED', 'LINKED')) = (instruction_id IS NOT NULL)),
      CHECK ((instruction_id IS NULL) = (matched_instruction_no IS NULL))
    );
    -- Finance's list of unidentified postings, and ledger verify's sum of them.
    CREATE INDEX bank_postings_status ON bank_postings (status, id);
    CREATE INDEX bank_postings_statement ON bank_postings (statement_id) WHERE statement_id IS NOT NULL;

    CREATE TABLE bank_statement_postings (
      statement_id    bigint NOT NULL REFERENCES bank_statements (id),
      position        integer NOT NULL CHECK (position >= 1),
      bank_posting_id bigint NOT NULL REFERENCES bank_postings (id),
      answered_status text NOT NULL CHECK (answered_status IN ('MATCHED', 'MISMATCHED', 'UNIDENTIFIED', 'LINKED', 'RETURNED')),
      answered_instruction_no text,
      PRIMARY KEY (statement_id, position)
    );

    ALTER TABLE journal_entries ADD CONSTRAINT journal_entries_bank_posting_fk FOREIGN KEY (bank_posting_id) REFERENCES bank_postings (id);

    CREATE FUNCTION bank_records_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
    END;
    $$;
    CREATE TRIGGER bank_statements_append_only BEFORE UPDATE OR DELETE ON bank_statements
      FOR EACH ROW EXECUTE FUNCTION bank_records_are_append_only();
    CREATE TRIGGER bank_statements_no_truncate BEFORE TRUNCATE ON bank_statements
      FOR EACH STATEMENT EXECUTE FUNCTION bank_records_are_append_only();
    CREATE TRIGGER bank_statement_postings_append_only BEFORE UPDATE OR DELETE ON bank_statement_postings
      FOR EACH ROW EXECUTE FUNCTION bank_records_are_append_only();
    CREATE TRIGGER bank_statement_postings_no_truncate BEFORE TRUNCATE ON bank_statement_postings
      FOR EACH STATEMENT EXECUTE FUNCTION bank_records_are_append_only();

    -- A posting changes once: out of UNIDENTIFIED, with its instruction (if any) and the instant.
    CREATE FUNCTION bank_postings_resolve_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'UPDATE'
         OR OLD.status <> 'UNIDENTIFIED' OR NEW.status = 'UNIDENTIFIED'
         OR OLD.instruction_id IS NOT NULL OR OLD.matched_instruction_no IS NOT NULL OR OLD.resolved_at IS NOT NULL
         OR (NEW.id, NEW.posting_id, NEW.bank_party_id, NEW.bank_ref, NEW.account_no, NEW.direction, NEW.amount,
             NEW.value_date, NEW.instruction_no, NEW.memo, NEW.counterparty_name, NEW.counterparty_account_no,
             NEW.source, NEW.statement_id, NEW.created_at)
            IS DISTINCT FROM
            (OLD.id, OLD.posting_id, OLD.bank_party_id, OLD.bank_ref, OLD.account_no, OLD.direction, OLD.amount,
             OLD.value_date, OLD.instruction_no, OLD.memo, OLD.counterparty_name, OLD.counterparty_account_no,
             OLD.source, OLD.statement_id, OLD.created_at)
      THEN
        RAISE EXCEPTION 'bank_postings is append-only but for its resolution: % is not allowed', TG_OP
          USING ERRCODE = 'restrict_violation';
      END IF;
      RETURN NEW;
    END;
    $$;
    CREATE TRIGGER bank_postings_resolve_only BEFORE UPDATE OR DELETE ON bank_postings
      FOR EACH ROW EXECUTE FUNCTION bank_postings_resolve_only();
    CREATE TRIGGER bank_postings_no_truncate BEFORE TRUNCATE ON bank_postings
      FOR EACH STATEMENT EXECUTE FUNCTION bank_records_are_append_only();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
