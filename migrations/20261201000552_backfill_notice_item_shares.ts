import type { Knex } from 'knex';

/**
 * Notices issued before their lines kept the sharing rule's shares (20261201000551) get them now,
 * from each rule as it is today: the best there is, because the rules' past states were not kept.
 * From here on, every notice snapshots its shares when it is issued.
 *
 * One statement; a line that already has its shares is left alone (ON CONFLICT), so the migration
 * can run again. It stops if a shared line is left without a share, which only a rule with no
 * shares could cause — and the catalogue never stores one.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    INSERT INTO notice_item_shares (notice_id, line_position, position, budget_level, ratio)
    SELECT ni.notice_id, ni.position, s.position, s.budget_level, s.ratio
      FROM notice_items ni
      JOIN sharing_rules r ON r.code = ni.sharing_rule_code
      JOIN sharing_rule_shares s ON s.sharing_rule_id = r.id
     WHERE ni.sharing_rule_code IS NOT NULL
    ON CONFLICT (notice_id, line_position, position) DO NOTHING
  `);
  const orphans = await knex.raw<{ rows: Array<{ count: string }> }>(`
    SELECT count(*)::text AS count FROM notice_items ni
     WHERE ni.sharing_rule_code IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM notice_item_shares sh WHERE sh.notice_id = ni.notice_id AND sh.line_position = ni.position)`);
  const count = Number(orphans.rows[0]?.count ?? '0');
  if (count > 0) throw new Error(`${count} shared notice line(s) have a sharing rule without shares; give the rule its shares (PUT /v1/finance/sharing-rules/{ruleCode}) and start again`);
}

export async function down(): Promise<void> {
  throw new Error('forward-only');
}
