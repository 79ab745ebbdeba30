/**
 * The sandbox 收款银行 (沙箱收款银行, contracts/decisions/0081): a registered bank party with its
 * own key (kept like the sandbox agency's), holding the demo world's fiscal, treasury and clearing
 * accounts. Settlement (docs/settlement.md) sends instructions to receiving banks and takes their
 * confirmations; when it exists, the sandbox bank confirms them here, through the bank's signed
 * endpoints, as a real bank would. Until then the hook says so instead of pretending.
 */
import { SANDBOX_BANK_CODE } from './agency';

export interface SandboxInstruction {
  instructionNo: string;
}

export interface SandboxBankHook {
  /** Confirms a settlement or refund instruction addressed to the sandbox bank. */
  confirmInstruction(instruction: SandboxInstruction): Promise<void>;
}

export class SandboxBank implements SandboxBankHook {
  readonly code = SANDBOX_BANK_CODE;

  confirmInstruction(instruction: SandboxInstruction): Promise<void> {
    return Promise.reject(new Error(`sandbox bank: settlement instructions do not exist yet; cannot confirm ${instruction.instructionNo}`));
  }
}
