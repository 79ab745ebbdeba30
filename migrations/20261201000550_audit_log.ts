import type { Knex } from 'knex';

/**
 * The finance audit log (docs/audit.md, contracts/decisions/0075-audit-log.md): every finance
 * action appends one row, in the transaction of the action, and each row's SM3 hash chains to the
 * previous row's, so that an edit, a deletion or an insertion anywhere in the past is found by
 * recomputing the chain (`npm run cli -- audit verify`).
 *
 * - `audit_log` holds the rows. `seq` is 1, 2, 3, … without gaps; `at` is whole seconds (the hash
 *   covers the instant as the wire writes it, which has no fractions). `before`/`after` are JSON
 *   snapshots of what the action changed (null when there is none). `previous_hash` is the hash of
 *   row `seq − 1` (64 zeros for row 1) and `hash` is the row's own: lowercase hex SM3 of the ASCII
 *   `previous_hash` followed by the RFC 8785 canonical JSON of
 *   `{seq, at, actorAppId, action, target, before, after}` (src/services/audit.ts computes it;
 *   PostgreSQL has no SM3).
 * - `audit_chain_head` is one row: the last `seq` and `hash`. A writer locks it (FOR UPDATE) to
 *   take the next seq, so appends are serialised and gap-free; it also anchors the end of the
 *   chain, so that removing the newest rows is found too.
 * - The insert trigger refuses a row that does not continue the head (wrong seq or previous hash)
 *   and moves the head forward in the same statement: no code path can append a row that does not
 *   link, or forget to move the head.
 * - The log refuses UPDATE, DELETE and TRUNCATE, as the ledger does (20261127000032). The head
 *   refuses every change but the insert trigger's step forward.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_log (
      seq           bigint PRIMARY KEY CHECK (seq >= 1),
      at            timestamptz NOT NULL CHECK (date_trunc('second', at AT TIME ZONE 'UTC') = at AT TIME ZONE 'UTC'),
      actor_app_id  text NOT NULL CHECK (actor_app_id ~ '^[A-Za-z0-9_-]{1,64}$'),
      action        text NOT NULL CHECK (action ~ '^[a-z][a-z_]{0,39}(\\.[a-z][a-z_]{0,39}){1,3}$'),
      target        text NOT NULL CHECK (length(target) BETWEEN 1 AND 300),
      before        jsonb,
      after         jsonb,
      previous_hash text NOT NULL CHECK (previous_hash ~ '^[0-9a-f]{64}$'),
      hash          text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
      CHECK (before IS NOT NULL OR after IS NOT NULL)
    );

    CREATE TABLE audit_chain_head (
      id   smallint PRIMARY KEY CHECK (id = 1),
      seq  bigint NOT NULL CHECK (seq >= 0),
      hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
    );
    INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

    -- One function for every append-only table of the platform outside the ledger.
    CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'rows of this table are only ever inserted; a correction is a new row';
    END
    $$;
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

    CREATE FUNCTION audit_log_continue_chain() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      head_seq  bigint;
      head_hash text;
    BEGIN
      SELECT seq, hash INTO head_seq, head_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE;
      IF NEW.seq <> head_seq + 1 OR NEW.previous_hash <> head_hash THEN
        RAISE EXCEPTION 'audit_log row % does not continue the chain, whose head is row % (%)', NEW.seq, head_seq, head_hash
          USING ERRCODE = 'TF010';
      END IF;
      UPDATE audit_chain_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER audit_log_continue_chain BEFORE INSERT ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_continue_chain();

    CREATE FUNCTION audit_chain_head_step() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'audit_chain_head only moves one row forward with each audit_log insert (% refused)', TG_OP
          USING ERRCODE = 'restrict_violation';
      END IF;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER audit_chain_head_step BEFORE INSERT OR UPDATE OR DELETE ON audit_chain_head
      FOR EACH ROW EXECUTE FUNCTION audit_chain_head_step();
    CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
