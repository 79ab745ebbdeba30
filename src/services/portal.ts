/**
 * The payer portal's use cases (docs/interface.md §6; contracts/decisions/0080): a payer looks a
 * notice up by its payment code and their name, sees what they owe and why, chooses an agency that
 * offers online payment, and comes back to a verified e-receipt.
 *
 * The lookup is the public lookup's, unchanged: the same PostgreSQL-backed limits under the same
 * subjects (so the JSON endpoint and the page share one budget per address and per payCode), the
 * same name comparison, and one answer for an unknown code and a wrong name. It returns more than
 * the JSON endpoint (the late fee rule of each line, the expiry date, the receipt of a paid notice)
 * because the payer has proved the same thing to see it: the code and the name.
 */
import crypto from 'node:crypto';
import type { Decimal as DecimalJs } from 'decimal.js';
import type { Db } from '../db/database';
import * as noticeRepo from '../db/repositories/notices';
import { listOnlinePaymentAgencies } from '../db/repositories/parties';
import { insertPlatformSettingIfAbsent } from '../db/repositories/platformSettings';
import { findReceiptByNo } from '../db/repositories/receipts';
import { shanghaiDate } from '../domain/businessDate';
import type { Clocks } from '../domain/clock';
import { assert, TongfuError } from '../domain/errors';
import { daysLate, lateFeeCap, lateFeeForItem, type LateFeeRule } from '../domain/lateFee';
import { Decimal, formatMoney, sumMoney, ZERO } from '../domain/money';
import { lateFeeTerm } from '../domain/lateFeeText';
import { fillCheckoutUrl, type OnlinePayment } from '../domain/onlinePayment';
import { maskName, namesMatch } from '../domain/payer';
import type { NoticeStatus } from '../domain/stateMachines';
import type { Logger } from '../logger';
import { chargesAsOf, payableOn, toNoticeRecord } from './noticeViews';
import { findPartyRecord, toPartyRecord } from './parties';
import type { PublicLookupLimiter } from './publicLookupLimits';
import type { ReceiptService, ReceiptView } from './receipts';

/** The portal lists at most this many agencies: it is a choice for a person, not a directory. */
export const ONLINE_AGENCIES_MAX = 20;
/** How long the way back from an agency's checkout stays open. */
export const RETURN_TOKEN_LIFETIME_MS = 2 * 60 * 60_000;
const RETURN_KEY_SETTING = 'portal_return_key_hmac_sm3';

export interface PortalNoticeLine {
  itemName: string;
  quantity: number;
  amount: DecimalJs;
  lateFeeRule: LateFeeRule;
  /** The late fee this line carries today (ISSUED and payable) or carried when paid; zero otherwise. */
  lateFee: DecimalJs;
}

/** A notice as its payer sees it on the portal: never the name unmasked, no id number, no mobile. */
export interface PortalNotice {
  payCode: string;
  unitName: string;
  payerNameMasked: string;
  status: NoticeStatus;
  /** Whether a payment made today can pay it (an ISSUED notice past its expiry date cannot). */
  payable: boolean;
  lines: PortalNoticeLine[];
  totalAmount: DecimalJs;
  lateFee: DecimalJs;
  amountDue: DecimalJs;
  dueDate: string;
  expireDate: string | null;
  /** Days past the due date today (0 when not late, or when it can no longer be paid). */
  daysLate: number;
  /**
   * Whether paying later costs more: some line has a daily rate and has not reached its cap.
   * False for a notice that owes nothing today, and for one whose late fees are all at their caps.
   */
  lateFeeGrows: boolean;
  /** The surcharge's name on this notice: 加处罚款 on a fine, 滞纳金 on a fee (decision 0208). */
  lateFeeTerm: '滞纳金' | '加处罚款';
  paidAt: Date | null;
  paidAmount: DecimalJs | null;
  /** The receipt of a paid notice, for the payer's link to it. */
  receipt: { receiptNo: string; checkCode: string } | undefined;
  /** Today's date (Asia/Shanghai, business clock). */
  today: string;
}

/** An agency offering online payment, with the checkout URL for one notice filled in. */
export interface PortalAgency {
  code: string;
  displayName: string;
  logoText: string;
  checkoutUrl: string;
}

export interface PortalReceipt extends ReceiptView {
  verified: boolean;
  agencyName: string | undefined;
}

export interface PortalDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
  publicBaseUrl: string;
  limiter: PublicLookupLimiter;
  receipts: ReceiptService;
  /** Whether this service serves the sandbox's checkout (TONGFU_SANDBOX, decision 0191). */
  sandbox: boolean;
}

function noticeNotFound(payCode: string): TongfuError {
  return new TongfuError('NOTICE_NOT_FOUND', `no notice ${payCode} with this payer name`, { payCode });
}

export class PortalService {
  private returnKey: Promise<Buffer> | undefined;

  constructor(private readonly deps: PortalDependencies) {}

  /**
   * The notice `payCode` (already checked: 20 digits, valid check digits) if `payerName` is its
   * payer's. RATE_LIMITED; NOTICE_NOT_FOUND for an unknown code and a wrong name alike.
   */
  async lookup(payCode: string, payerName: string, clientAddress: string): Promise<PortalNotice> {
    const ticket = await this.deps.limiter.admitCountingFailure(clientAddress, payCode);
    const row = await noticeRepo.findNoticeByPayCode(this.deps.db, payCode);
    if (row === undefined || !namesMatch(row.payer_name, payerName)) throw noticeNotFound(payCode);
    await this.deps.limiter.release(ticket);
    const notice = toNoticeRecord(row);
    const today = shanghaiDate(this.deps.clocks.business.now());
    const charges = chargesAsOf(notice, today);
    const payable = payableOn(notice, today);
    // Owing something today: ISSUED and still payable. An ISSUED notice past its expiry date (the
    // expire-notices job has not moved it yet) owes nothing online, as an EXPIRED one.
    const open = notice.status === 'ISSUED' && payable;
    const lines = notice.lines.map((line) => ({
      itemName: line.itemName,
      quantity: line.quantity,
      amount: line.amount,
      lateFeeRule: line.lateFeeRule,
      lateFee: open ? lateFeeForItem({ amount: line.amount, rule: line.lateFeeRule, dueDate: notice.dueDate, referenceDate: today }) : (line.lateFeePaid ?? ZERO),
    }));
    let receipt: PortalNotice['receipt'];
    if (notice.receiptNo !== null) {
      const stored = await findReceiptByNo(this.deps.db, notice.receiptNo);
      assert(stored !== undefined, `notice ${payCode}: its receipt ${notice.receiptNo} exists`);
      receipt = { receiptNo: stored.receipt_no, checkCode: stored.check_code };
    }
    return {
      payCode,
      unitName: notice.unitName,
      payerNameMasked: maskName(notice.payerName),
      status: notice.status,
      payable,
      lines,
      totalAmount: charges.totalAmount,
      // ISSUED and payable: today's; paid: what was paid; voided or expired: nothing.
      lateFee: sumMoney(lines.map((line) => line.lateFee)),
      amountDue: open ? charges.amountDue : ZERO,
      dueDate: notice.dueDate,
      expireDate: notice.expireDate,
      daysLate: open ? daysLate(notice.dueDate, today) : 0,
      lateFeeTerm: lateFeeTerm(notice.noticeType),
      lateFeeGrows: open && lines.some((line) => line.lateFeeRule.type === 'DAILY_RATE' && !new Decimal(line.lateFeeRule.ratePerDay).isZero() && line.lateFee.lt(lateFeeCap(line.amount, line.lateFeeRule))),
      paidAt: notice.paidAt,
      paidAmount: notice.paidAmount,
      receipt,
      today,
    };
  }

  /**
   * The active agencies offering online payment, each with its checkout URL for this notice. A
   * checkout hosted by this service (a path: the sandbox's) is offered only where this service
   * serves it: with TONGFU_SANDBOX off its link would lead nowhere.
   */
  async agenciesFor(notice: PortalNotice): Promise<PortalAgency[]> {
    const rows = await listOnlinePaymentAgencies(this.deps.db, ONLINE_AGENCIES_MAX);
    const returnPath = await this.returnPath(notice.payCode);
    const offered = rows.map(toPartyRecord).filter((party) => this.deps.sandbox || !(party.onlinePayment as OnlinePayment).checkoutUrlTemplate.startsWith('/'));
    return offered.map((party) => {
      const online = party.onlinePayment as OnlinePayment;
      // A checkout hosted by this service (a path) comes back by path; another site needs the whole URL.
      const returnUrl = online.checkoutUrlTemplate.startsWith('/') ? returnPath : `${this.deps.publicBaseUrl}${returnPath}`;
      return {
        code: party.code,
        displayName: online.displayName,
        logoText: online.logoText,
        checkoutUrl: fillCheckoutUrl(online.checkoutUrlTemplate, { payCode: notice.payCode, amount: formatMoney(notice.amountDue), returnUrl }),
      };
    });
  }

  // ---- the way back from a checkout ------------------------------------------------------------

  private key(): Promise<Buffer> {
    this.returnKey ??= insertPlatformSettingIfAbsent(this.deps.db, RETURN_KEY_SETTING, crypto.randomBytes(32).toString('hex')).then((hex) => {
      assert(/^[0-9a-f]{64}$/.test(hex), `platform_settings.${RETURN_KEY_SETTING} is 64 hex digits`);
      return Buffer.from(hex, 'hex');
    });
    return this.returnKey;
  }

  private async mac(payCode: string, expiresSeconds: number): Promise<string> {
    return crypto.createHmac('sm3', await this.key()).update(`portal-return\n${payCode}\n${expiresSeconds}`).digest('base64url');
  }

  /**
   * `/pay/return?payCode=…&expires=…&token=…`: the payer's way back from an agency. The token (an
   * HMAC-SM3 under a key only this service holds) says the holder passed the name check for this
   * payCode in the last two hours, which is what seeing the notice's receipt requires.
   */
  async returnPath(payCode: string): Promise<string> {
    const expires = Math.floor((this.deps.clocks.real.now().getTime() + RETURN_TOKEN_LIFETIME_MS) / 1000);
    return `/pay/return?payCode=${payCode}&expires=${expires}&token=${await this.mac(payCode, expires)}`;
  }

  /** The receipt a valid way back leads to; undefined while the notice has none; NOT_FOUND for a bad or stale token. */
  async receiptForReturn(payCode: string, expiresText: string, token: string): Promise<{ receiptNo: string; checkCode: string } | undefined> {
    const invalid = new TongfuError('NOT_FOUND', 'this return link is not valid or has expired');
    if (!/^[0-9]{1,12}$/.test(expiresText) || !/^[0-9]{20}$/.test(payCode)) throw invalid;
    const expires = Number(expiresText);
    const expected = Buffer.from(await this.mac(payCode, expires));
    const given = Buffer.from(token);
    if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw invalid;
    if (expires * 1000 < this.deps.clocks.real.now().getTime()) throw invalid;
    const row = await noticeRepo.findNoticeByPayCode(this.deps.db, payCode);
    if (row === undefined || row.receipt_no === null) return undefined;
    const stored = await findReceiptByNo(this.deps.db, row.receipt_no);
    assert(stored !== undefined, `notice ${payCode}: its receipt ${row.receipt_no} exists`);
    return { receiptNo: stored.receipt_no, checkCode: stored.check_code };
  }

  // ---- receipts --------------------------------------------------------------------------------

  /** The public receipt read (rate-limited, verified against the platform key) and its agency's name. */
  async receipt(receiptNo: string, checkCode: string, clientAddress: string): Promise<PortalReceipt> {
    const view = await this.deps.receipts.getPublicReceipt(receiptNo, checkCode, clientAddress);
    const content = JSON.parse(view.signedBytes.toString('utf8')) as { agencyCode?: unknown };
    const agency = typeof content.agencyCode === 'string' ? await findPartyRecord(this.deps.db, 'agency', content.agencyCode) : undefined;
    return { ...view, agencyName: agency?.onlinePayment?.displayName ?? agency?.name };
  }
}
