/**
 * The sandbox 收款银行 (沙箱收款银行, contracts/decisions/0081, 0220): a registered bank party with
 * its own key (kept like the sandbox agency's), holding the demo world's fiscal, treasury and
 * clearing accounts. Like the sandbox agency it talks to Tongfu only over signed HTTP on the
 * service's own address: it reads the instructions on its accounts
 * (`GET /v1/bank/instructions?status=`), reports the refunds it executes
 * (`POST /v1/bank/instructions/{instructionNo}/result`) and posts the movements
 * (`POST /v1/bank/postings` with `instructionNo`), as a real bank would.
 */
import { SANDBOX_BANK_CODE } from './agency';
import { sandboxCredentials, sendSigned, type SandboxAnswer, type SandboxClientDependencies, type SandboxCredentials } from './client';

export interface SandboxBankPosting {
  bankRef: string;
  accountNo: string;
  direction: 'CREDIT' | 'DEBIT';
  amount: string;
  valueDate: string;
  instructionNo: string;
  memo: string;
}

export class SandboxBank {
  readonly code = SANDBOX_BANK_CODE;

  constructor(private readonly deps: SandboxClientDependencies) {}

  /** The registered sandbox bank's credentials; undefined until `demo seed` registered it. */
  credentials(): Promise<SandboxCredentials | undefined> {
    return sandboxCredentials(this.deps.db, 'bank', SANDBOX_BANK_CODE);
  }

  send(credentials: SandboxCredentials, request: { method: 'GET' | 'POST'; target: string; body?: string }): Promise<SandboxAnswer> {
    return sendSigned(this.deps, 'sandbox bank', credentials, request);
  }

  /** Signed `POST /v1/bank/postings`: the movement on one of its accounts, naming its instruction. */
  post(credentials: SandboxCredentials, posting: SandboxBankPosting): Promise<SandboxAnswer> {
    return this.send(credentials, { method: 'POST', target: '/v1/bank/postings', body: JSON.stringify(posting) });
  }
}
