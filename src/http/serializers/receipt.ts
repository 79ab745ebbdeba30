import { formatInstant } from '../../domain/businessDate';
import { assert } from '../../domain/errors';
import { formatMoney } from '../../domain/money';
import type { ReceiptView } from '../../services/receipts';

/**
 * The wire shape of a receipt (docs/lifecycle.md §6): `receipt` is the signed object, parsed from the
 * stored signed bytes and never rebuilt, so a client can canonicalise it (RFC 8785) and verify
 * `signature` (standard base64 of the DER SM2 signature) with the platform key `keyId` from
 * GET /v1/platform/keys. The receipt holds only strings, so the JSON written here repeats the
 * stored bytes exactly. The status, the reversals (冲红) and the QR text sit beside it: they are not
 * signed, and the reversals arrive after it was.
 */
export function serializeReceipt(view: ReceiptView): Record<string, unknown> {
  const receipt: unknown = JSON.parse(view.signedBytes.toString('utf8'));
  assert(typeof receipt === 'object' && receipt !== null && (receipt as { receiptNo?: unknown }).receiptNo === view.receiptNo, `the stored bytes of receipt ${view.receiptNo} are its receipt`);
  return {
    receipt,
    signature: view.signature.toString('base64'),
    keyId: view.keyId,
    status: view.status,
    reversals: view.reversals.map((reversal) => ({
      refundId: reversal.refundId,
      amount: formatMoney(reversal.amount),
      reason: reversal.reason,
      reversedAt: formatInstant(reversal.reversedAt),
    })),
    qrText: view.qrText,
  };
}

/** The public answer adds whether the platform verified the stored signature just now. */
export function serializeVerifiedReceipt(view: ReceiptView & { verified: boolean }): Record<string, unknown> {
  return { ...serializeReceipt(view), verified: view.verified };
}
