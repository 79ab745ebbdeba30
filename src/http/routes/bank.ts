import { pageRequest } from '../../db/pagination';
import type { BankPostingInput } from '../../domain/bankPostings';
import { assert, type FieldProblem } from '../../domain/errors';
import { Decimal, singleAmountProblem } from '../../domain/money';
import type { Services } from '../../services';
import type { BankCaller } from '../../services/bankPostings';
import type { Call, RouteDefinition } from '../call';
import { STATEMENT_UPLOAD_LIMIT_BYTES, type StreamedRouteDefinition, type UploadCall } from '../streamedBody';

/**
 * The receiving bank's postings and statements (docs/settlement.md §2), and finance's list of
 * unidentified credits. Validated against contracts/openapi/40-bank-postings.yaml,
 * 42-bank-statements.yaml and 14-finance-unidentified.yaml.
 */

function bankOf(call: Call | UploadCall): BankCaller {
  assert(call.party !== undefined && call.party.role === 'bank', 'a bank route runs for an authenticated bank');
  return { partyId: call.party.partyId, code: call.party.code };
}

interface PostingBody {
  bankRef: string;
  accountNo: string;
  direction: 'CREDIT' | 'DEBIT';
  amount: string;
  valueDate: string;
  instructionNo?: string;
  memo?: string;
  counterparty?: { name: string; accountNo?: string };
}

export function bankRoutes(services: Services): Array<RouteDefinition | StreamedRouteDefinition> {
  const { bankPostings } = services;
  return [
    {
      access: 'bank',
      method: 'POST',
      path: '/v1/bank/postings',
      operationId: 'postBankPosting',
      body: 'json',
      async handle(call) {
        const body = call.body as PostingBody;
        const amountProblem = singleAmountProblem(new Decimal(body.amount));
        // The value date's window needs the business clock and the stored postings: the service
        // checks it and answers every problem at once (decision 0199).
        const problems: FieldProblem[] = amountProblem === null ? [] : [{ path: '/amount', problem: amountProblem }];
        const input: BankPostingInput = {
          bankRef: body.bankRef,
          accountNo: body.accountNo,
          direction: body.direction,
          amount: new Decimal(body.amount),
          valueDate: body.valueDate,
          ...(body.instructionNo !== undefined ? { instructionNo: body.instructionNo } : {}),
          ...(body.memo !== undefined ? { memo: body.memo } : {}),
          ...(body.counterparty !== undefined ? { counterparty: body.counterparty } : {}),
        };
        const posted = await bankPostings.postPosting(bankOf(call), input, problems);
        return { status: 201, body: posted.posting, ...(posted.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      access: 'bank',
      method: 'GET',
      path: '/v1/bank/postings/:postingId',
      operationId: 'getBankPosting',
      body: 'none',
      async handle(call) {
        const postingId = call.params.postingId;
        assert(postingId !== undefined, 'the route has a :postingId parameter');
        return { status: 200, body: await bankPostings.getPosting(bankOf(call), postingId) };
      },
    },
    {
      access: 'bank',
      method: 'POST',
      path: '/v1/bank/statements',
      operationId: 'postBankStatement',
      body: 'stream',
      contentTypes: ['application/xml', 'text/xml'],
      limitBytes: STATEMENT_UPLOAD_LIMIT_BYTES,
      async handle(call: UploadCall) {
        const posted = await bankPostings.postStatement(bankOf(call), call.upload);
        return { status: 201, body: posted.statement, ...(posted.replayed ? { headers: { 'Idempotent-Replay': 'true' } } : {}) };
      },
    },
    {
      access: 'finance',
      method: 'GET',
      path: '/v1/finance/unidentified',
      operationId: 'listUnidentifiedPostings',
      body: 'none',
      async handle(call) {
        const status = (call.query.status as 'UNIDENTIFIED' | 'LINKED' | 'RETURNED' | 'MISMATCHED' | undefined) ?? 'UNIDENTIFIED';
        return { status: 200, body: await bankPostings.listUnidentified(status, pageRequest(call.query)) };
      },
    },
  ];
}
