import type { Knex } from 'knex';

/**
 * The sharing rule's shares as they were when a notice was issued (docs/settlement.md §4,
 * contracts/decisions/0076-notice-item-shares.md): one row per share of each line whose item is
 * shared (budget level 0), in the rule's order — the last share takes the rounding remainder when
 * the settlement splits a line's revenue, so `position` is part of the snapshot. A line of budget
 * level 1–5 has no rows: its revenue goes wholly to its own level.
 *
 * Written by the notice's insert statement itself (src/db/repositories/notices.ts), from the rule
 * as that statement sees it, so a later change to the rule never reaches an issued notice; and the
 * rows are append-only, like the ledger: the database refuses UPDATE, DELETE and TRUNCATE.
 *
 * A table rather than a jsonb column on notice_items because the settlement reads shares by the
 * thousand, joined to the lines it settles, and the revenue it recognises is kept per share: typed
 * columns with CHECKs, a key the recognised revenue can reference, and SQL that groups by budget
 * level without unpacking JSON.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE notice_item_shares (
      notice_id     bigint NOT NULL,
      line_position smallint NOT NULL,
      position      smallint NOT NULL CHECK (position BETWEEN 0 AND 4),
      budget_level  smallint NOT NULL CHECK (budget_level BETWEEN 1 AND 5),
      ratio         numeric(9, 4) NOT NULL CHECK (ratio > 0 AND ratio <= 1),
      PRIMARY KEY (notice_id, line_position, position),
      FOREIGN KEY (notice_id, line_position) REFERENCES notice_items (notice_id, position)
    );
    CREATE TRIGGER notice_item_shares_append_only BEFORE UPDATE OR DELETE ON notice_item_shares
      FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
    CREATE TRIGGER notice_item_shares_no_truncate BEFORE TRUNCATE ON notice_item_shares
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
  `);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
