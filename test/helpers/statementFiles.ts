import crypto from 'node:crypto';
import { unknownPayCode } from './payments';

/**
 * Statement files for tests (docs/reconciliation.md §1): TFS1 and APPBILL text from a list of
 * lines, with the trailer/summary computed from them unless the test overrides it.
 */

export interface FileLine {
  kind: 'PAY' | 'REFUND';
  id: string;
  /** payCode (PAY) or instructionNo (REFUND). */
  code: string;
  amount: string;
  /** ISO 8601 with offset (TFS1) — APPBILL takes its Shanghai wall-clock part. */
  at: string;
  channel?: string;
}

export function payLine(fields: Partial<FileLine> = {}): FileLine {
  return { kind: 'PAY', id: `T${crypto.randomBytes(6).toString('hex')}`, code: unknownPayCode(), amount: '100.00', at: '2026-12-01T10:15:00+08:00', channel: 'MOBILE', ...fields };
}

export function refundLine(fields: Partial<FileLine> = {}): FileLine {
  return { kind: 'REFUND', id: `R${crypto.randomBytes(6).toString('hex')}`, code: `TFR20261201${String(crypto.randomInt(0, 99_999_999)).padStart(8, '0')}`, amount: '50.00', at: '2026-12-01T15:00:00+08:00', channel: '', ...fields };
}

function sumOf(lines: FileLine[], kind: FileLine['kind']): string {
  let fen = 0n;
  for (const line of lines) if (line.kind === kind) fen += BigInt(line.amount.replace('.', ''));
  const text = fen.toString().padStart(3, '0');
  return `${text.slice(0, -2)}.${text.slice(-2)}`;
}

export function tfs1(options: { agency: string; date?: string; seq?: number; lines: FileLine[]; trailer?: string; eol?: string; generatedAt?: string }): string {
  const eol = options.eol ?? '\n';
  const header = `H|TFS1|${options.agency}|${options.date ?? '2026-12-01'}|${options.seq ?? 1}|${options.generatedAt ?? '2026-12-02T01:30:00+08:00'}`;
  const details = options.lines.map((l) => (l.kind === 'PAY' ? `D|PAY|${l.id}|${l.code}|${l.amount}|${l.at}|${l.channel ?? 'MOBILE'}` : `D|REFUND|${l.id}|${l.code}|${l.amount}|${l.at}|${l.channel ?? ''}`));
  const pays = options.lines.filter((l) => l.kind === 'PAY').length;
  const trailer = options.trailer ?? `T|${pays}|${sumOf(options.lines, 'PAY')}|${options.lines.length - pays}|${sumOf(options.lines, 'REFUND')}`;
  return [header, ...details, trailer].join(eol) + eol;
}

export function appbill(options: { lines: FileLine[]; summary?: string; eol?: string }): string {
  const eol = options.eol ?? '\n';
  const rows = options.lines.map((l) => {
    const time = l.at.slice(0, 19).replace('T', ' ');
    return [time, l.kind === 'PAY' ? '支付' : '退款', l.id, l.code, 'SUCCESS', l.amount, l.channel ?? ''].map((v) => `\`${v}`).join(',');
  });
  const summary = options.summary ?? [String(options.lines.length), sumOf(options.lines, 'PAY'), sumOf(options.lines, 'REFUND')].map((v) => `\`${v}`).join(',');
  return ['交易时间,交易类型,商户订单号,缴款码或指令号,交易状态,金额,渠道', ...rows, '总交易单数,总支付金额,总退款金额', summary].join(eol) + eol;
}
