/**
 * The error catalogue (docs/interface.md §3). A code is the contract with callers: it never changes
 * meaning. Domain and service code throw `TongfuError` with a code; the HTTP layer maps codes to
 * statuses in exactly one place (src/http/errorStatus.ts).
 */
export const ERROR_CODES = [
  'MALFORMED_JSON',
  'VALIDATION_FAILED',
  'AMOUNT_INVALID',
  'PAY_CODE_INVALID',
  'SIGNATURE_MISSING',
  'UNKNOWN_APP',
  'TIMESTAMP_OUT_OF_WINDOW',
  'SIGNATURE_INVALID',
  'NONCE_REUSED',
  'FORBIDDEN',
  'PARTY_DISABLED',
  'ITEM_NOT_AUTHORIZED',
  'NOT_FOUND',
  'NOTICE_NOT_FOUND',
  'PAYMENT_NOT_FOUND',
  'IDEMPOTENCY_CONFLICT',
  'NOTICE_ALREADY_PAID',
  'NOTICE_NOT_PAYABLE',
  'NOTICE_NOT_VOIDABLE',
  'INVALID_STATE_TRANSITION',
  'LAST_ACTIVE_KEY',
  'STATEMENT_SEQ_NOT_HIGHER',
  'BUSINESS_DATE_CLOSED',
  'PROPOSAL_PENDING',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNKNOWN_REFERENCE',
  'AMOUNT_MISMATCH',
  'ITEM_AMOUNT_OUT_OF_RANGE',
  'ITEM_INACTIVE',
  'DUE_DATE_IN_PAST',
  'STATEMENT_MALFORMED',
  'STATEMENT_TOTALS_MISMATCH',
  'APPROVER_SAME_AS_REQUESTER',
  'REFUND_EXCEEDS_PAID',
  'ACTION_NOT_APPLICABLE',
  'PAID_BEFORE_ISSUE',
  'RATE_LIMITED',
  'INTERNAL',
  'UNAVAILABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem in a VALIDATION_FAILED answer: a JSON-pointer-like path and what is wrong there. */
export interface FieldProblem {
  path: string;
  problem: string;
}

export class TongfuError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'TongfuError';
    this.code = code;
    this.details = details;
  }
}

export function validationFailed(fields: FieldProblem[]): TongfuError {
  const summary = fields.map((f) => `${f.path || '/'}: ${f.problem}`).join('; ');
  return new TongfuError('VALIDATION_FAILED', `request is invalid: ${summary}`, { fields });
}

/** Crash on a broken invariant: this is a bug, never a caller's mistake. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new Error(`invariant broken: ${message}`);
  }
}
