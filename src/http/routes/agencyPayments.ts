import type { ValidateFunction } from 'ajv/dist/2020';
import { assert, type FieldProblem, TongfuError, validationFailed } from '../../domain/errors';
import { isValidPayCode, postedPayCode } from '../../domain/payCode';
import type { Services } from '../../services';
import { type AgencyCaller, type PostPaymentInput, postingInputProblems } from '../../services/payments';
import { parseJsonBody } from '../body';
import type { Call, RouteDefinition } from '../call';
import { defaultContractDocument, describeErrors, errorsToTongfuError, makeAjv } from '../contract';

/**
 * The agency's payment endpoints (docs/interface.md §6.3, docs/lifecycle.md §3): post a payment, read one
 * back. The routes live apart from agency.ts (verification) only because they are a capability
 * of their own; both are the agency's.
 *
 * The posting takes its body raw and checks it here, because its checks follow docs/interface.md §3's
 * order across a rule the generic pipeline only applies to a *path* payCode: MALFORMED_JSON →
 * AMOUNT_INVALID → PAY_CODE_INVALID → VALIDATION_FAILED. A payCode failing its check digits in
 * the body is PAY_CODE_INVALID before any other problem — unless the funds are captured, when it
 * is no error at all (the money is recorded as unapplied). The schema is still the contract's:
 * `PaymentRequest` in contracts/openapi/31-agency-payments.yaml.
 */

const SCHEMA_ID = 'tongfu:payments';

/**
 * The contract's PaymentRequest validator, compiled once per process on the first posting: a
 * process that never takes one does not pay for it (contracts/decisions/0079-idle-memory.md).
 */
function compileRequestValidator(): ValidateFunction {
  const ajv = makeAjv(false);
  ajv.addSchema(defaultContractDocument() as unknown as object, SCHEMA_ID);
  return ajv.compile({ $ref: `${SCHEMA_ID}#/components/schemas/PaymentRequest` });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The posting's body, checked in the standard's order; throws the first failure. */
export function parsePostingBody(raw: Buffer, validate: ValidateFunction): PostPaymentInput {
  const { value: body, problems: textProblems } = parseJsonBody(raw);
  const valid = validate(body);
  const errors = valid ? [] : (validate.errors ?? []);
  if (errors.length > 0) {
    const mapped = errorsToTongfuError(errors, '');
    if (mapped.code === 'AMOUNT_INVALID') throw mapped;
  }
  // A payCode typed in groups of four is posted without its spaces (docs/payment-code.md).
  const fields = isPlainObject(body) ? body : {};
  const payCode = typeof fields.payCode === 'string' ? postedPayCode(fields.payCode) : undefined;
  // A payCode that is not a string is a problem of the schema's (VALIDATION_FAILED), captured funds or not.
  if (payCode !== undefined && fields.fundsCaptured !== true && !isValidPayCode(payCode as unknown)) {
    throw new TongfuError('PAY_CODE_INVALID', 'payCode must be 20 digits with valid MOD 97-10 check digits', { payCode: payCode.slice(0, 64) });
  }
  // Duplicate keys and text that is not text are refused with the schema's problems, captured
  // funds or not: such a body cannot be understood (docs/lifecycle.md §3.6).
  const problems: FieldProblem[] = [...describeErrors(errors, ''), ...textProblems];
  if (problems.length > 0) throw validationFailed(problems);
  const input = { ...(body as unknown as PostPaymentInput), payCode: payCode as string };
  const more = postingInputProblems(input);
  if (more.length > 0) throw validationFailed(more);
  return input;
}

function agencyOf(call: Call): AgencyCaller {
  assert(call.party !== undefined && call.party.role === 'agency', 'an agency route runs for an authenticated agency');
  return { partyId: call.party.partyId, code: call.party.code };
}

export function agencyPaymentRoutes(services: Services): RouteDefinition[] {
  const { payments } = services;
  let validate: ValidateFunction | undefined;
  return [
    {
      access: 'agency',
      method: 'POST',
      path: '/v1/agency/payments',
      operationId: 'postPayment',
      body: 'raw',
      rawContentTypes: ['application/json'],
      // The posting's read stores the nonce: one round trip and one commit less (decision 0009).
      storesNonce: true,
      async handle(call) {
        validate ??= compileRequestValidator();
        const input = parsePostingBody(call.rawBody, validate);
        const posted = await payments.postPayment(agencyOf(call), input, call.log, call.nonce);
        return { status: 201, body: posted.payment, ...(posted.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      access: 'agency',
      method: 'GET',
      path: '/v1/agency/payments/:agencyTxnId',
      operationId: 'getPayment',
      body: 'none',
      async handle(call) {
        const agencyTxnId = call.params.agencyTxnId;
        assert(agencyTxnId !== undefined, 'the route has an :agencyTxnId parameter');
        return { status: 200, body: await payments.getPayment(agencyOf(call), agencyTxnId) };
      },
    },
  ];
}
