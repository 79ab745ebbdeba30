/**
 * A payment code as a payer types it (docs/payment-code.md): copied from paper in groups of four
 * (`1501 0226 1000 0000 0103`), with spaces of any kind or hyphens between. The portal's page and
 * the server apply the same rule; the server's answer is the one that counts.
 */
import { isValidPayCode } from './payCode';

export type PayCodeInputProblem = 'EMPTY' | 'NOT_20_DIGITS' | 'CHECK_DIGITS';

export interface PayCodeInput {
  /** The digits with the separators removed (what was typed, if it was not 20 digits). */
  payCode: string;
  problem: PayCodeInputProblem | undefined;
}

/** Removes white space (U+3000 included, after NFKC makes full-width digits ASCII) and hyphens. */
export function normalizePayCodeInput(raw: string): PayCodeInput {
  const payCode = raw.normalize('NFKC').replace(/[\s-]+/gu, '');
  if (payCode === '') return { payCode, problem: 'EMPTY' };
  if (!/^[0-9]{20}$/.test(payCode)) return { payCode, problem: 'NOT_20_DIGITS' };
  if (!isValidPayCode(payCode)) return { payCode, problem: 'CHECK_DIGITS' };
  return { payCode, problem: undefined };
}

/** `15010226100000000103` → `1501 0226 1000 0000 0103`, as printed on a notice. */
export function groupPayCode(payCode: string): string {
  return payCode.replace(/(.{4})(?=.)/g, '$1 ');
}
