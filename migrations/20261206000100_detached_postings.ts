import type { Knex } from 'knex';

/**
 * DETACH of a MISMATCHED instruction (docs/settlement.md §1–§2;
 * contracts/decisions/0195-detach-mismatched-posting.md): finance decides that the posting which
 * mismatched an instruction is not that instruction's money. The posting goes back to
 * UNIDENTIFIED — where LINK and RETURN find it — and the instruction back to waiting.
 *
 * The posting keeps what it was: `detached_instruction_id` / `detached_instruction_no` are the
 * instruction it mismatched and `detached_at` the approval's instant, set once, together. The
 * resolution trigger (migration 20261202007001) allows exactly one move more: MISMATCHED →
 * UNIDENTIFIED, clearing `instruction_id`, `matched_instruction_no` and `resolved_at` and setting
 * the three `detached_*` columns from the instruction it leaves. Everything else stays as it was;
 * the move out of UNIDENTIFIED (matching, LINK, RETURN) keeps the `detached_*` columns unchanged.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE bank_postings
      ADD COLUMN detached_instruction_id bigint REFERENCES instructions (id),
      ADD COLUMN detached_instruction_no text,
      ADD COLUMN detached_at timestamptz,
      ADD CONSTRAINT bank_postings_detached_together CHECK (
        (detached_instruction_id IS NULL) = (detached_instruction_no IS NULL)
        AND (detached_instruction_id IS NULL) = (detached_at IS NULL));

    CREATE OR REPLACE FUNCTION bank_postings_resolve_only() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      same_facts boolean;
    BEGIN
      IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'bank_postings is append-only but for its resolution: % is not allowed', TG_OP
          USING ERRCODE = 'restrict_violation';
      END IF;
      same_facts := (NEW.id, NEW.posting_id, NEW.bank_party_id, NEW.bank_ref, NEW.account_no, NEW.direction, NEW.amount,
                     NEW.value_date, NEW.instruction_no, NEW.memo, NEW.counterparty_name, NEW.counterparty_account_no,
                     NEW.source, NEW.statement_id, NEW.created_at)
                    IS NOT DISTINCT FROM
                    (OLD.id, OLD.posting_id, OLD.bank_party_id, OLD.bank_ref, OLD.account_no, OLD.direction, OLD.amount,
                     OLD.value_date, OLD.instruction_no, OLD.memo, OLD.counterparty_name, OLD.counterparty_account_no,
                     OLD.source, OLD.statement_id, OLD.created_at);
      -- The resolution: out of UNIDENTIFIED, once, with its instruction (if any) and the instant.
      IF same_facts
         AND OLD.status = 'UNIDENTIFIED' AND NEW.status <> 'UNIDENTIFIED'
         AND OLD.instruction_id IS NULL AND OLD.matched_instruction_no IS NULL AND OLD.resolved_at IS NULL
         AND (NEW.detached_instruction_id, NEW.detached_instruction_no, NEW.detached_at)
             IS NOT DISTINCT FROM (OLD.detached_instruction_id, OLD.detached_instruction_no, OLD.detached_at)
      THEN
        RETURN NEW;
      END IF;
      -- The detachment (DETACH): a MISMATCHED posting back to UNIDENTIFIED, once, remembering its instruction.
      IF same_facts
         AND OLD.status = 'MISMATCHED' AND NEW.status = 'UNIDENTIFIED'
         AND OLD.detached_instruction_id IS NULL
         AND NEW.instruction_id IS NULL AND NEW.matched_instruction_no IS NULL AND NEW.resolved_at IS NULL
         AND NEW.detached_instruction_id = OLD.instruction_id AND NEW.detached_instruction_no = OLD.matched_instruction_no
         AND NEW.detached_at IS NOT NULL
      THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'bank_postings is append-only but for its resolution: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
    END;
    $$;
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
