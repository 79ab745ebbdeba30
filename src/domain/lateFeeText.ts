/**
 * The late fee rule of a notice line in the words a payer reads (docs/lifecycle.md §2):
 * `ratePerDay 0.0005, capRatio 1` → "每日按 0.5‰ 加收，最高不超过本金".
 */
import type { LateFeeRule } from './lateFee';
import { Decimal } from './money';

/** A decimal without trailing zeros: 0.5000 → "0.5", 30.0 → "30". */
function plain(value: Decimal): string {
  return value.toFixed();
}

export function lateFeeRuleText(rule: LateFeeRule): string | undefined {
  if (rule.type === 'NONE') return undefined;
  // Exact: a rate has at most 6 decimals, so ‰ has at most 3 and % at most 2 (no rounding).
  const perMille = plain(new Decimal(rule.ratePerDay).times(1000));
  const cap = new Decimal(rule.capRatio);
  const capText = cap.eq(1) ? '最高不超过本金' : `最高不超过本金的 ${plain(cap.times(100))}%`;
  return `每日按 ${perMille}‰ 加收，${capText}`;
}

/**
 * What a payer calls the daily surcharge of a notice: on a fine (a penalty decision, notice kind
 * `2`) it is 加处罚款, as the decision the payer holds names it, not a 滞纳金; on a fee it is
 * 滞纳金 (contracts/decisions/0208-fines-carry-jiachu-fakuan.md gives the legal ground).
 */
export function lateFeeTerm(noticeType: number | string): '滞纳金' | '加处罚款' {
  return String(noticeType) === '2' ? '加处罚款' : '滞纳金';
}
