import type { Queryable } from '../database';

/**
 * The shares each shared notice line snapshotted when its notice was issued (migration
 * 20261201000551). They are written by the notice's own insert statement
 * (src/db/repositories/notices.ts `insertNotice`); this module reads them, for the settlement's
 * revenue split (docs/settlement.md §4). Ratios come back as the strings pg returns.
 */

export interface NoticeItemShareRow {
  notice_id: string;
  /** The line's position on its notice (notice_items.position). */
  line_position: number;
  /** The share's place in the rule: the last one takes the rounding remainder. */
  position: number;
  budget_level: number;
  /** NUMERIC(9,4) as text, e.g. "0.4000". */
  ratio: string;
}

/** Every share of the given notices' shared lines, by notice, line and position. Lines of levels 1–5 have none. */
export async function listNoticeItemShares(db: Queryable, noticeIds: readonly string[]): Promise<NoticeItemShareRow[]> {
  if (noticeIds.length === 0) return [];
  const result = await db.raw<{ rows: NoticeItemShareRow[] }>(
    `SELECT notice_id::text AS notice_id, line_position, position, budget_level, ratio::text AS ratio
       FROM notice_item_shares
      WHERE notice_id = ANY(?::bigint[])
      ORDER BY notice_item_shares.notice_id, notice_item_shares.line_position, notice_item_shares.position`,
    [[...new Set(noticeIds)]],
  );
  return result.rows;
}
