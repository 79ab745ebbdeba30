import { isValidDate } from './businessDate';
import { TongfuError } from './errors';
import { Decimal, formatMoney, MONEY_LIMIT, SINGLE_AMOUNT_LIMIT, SINGLE_AMOUNT_MAX, ZERO } from './money';
import { malformed, XmlStreamTokenizer, type XmlStart } from './xmlStream';
import { BANK_REF_PATTERN, COUNTERPARTY_ACCOUNT_CHARS_MAX, COUNTERPARTY_NAME_CHARS_MAX, type BankPostingInput, INSTRUCTION_NO_PATTERN, MEMO_CHARS_MAX, type PostingDirection } from './bankPostings';

/**
 * ISO 20022 camt.053 bank-to-customer statements (docs/settlement.md §2;
 * contracts/decisions/0136-camt053-statements.md), read as a stream: the reader is fed the file's
 * text in chunks and hands over each posting as its entry closes, so a file of any size is read
 * in the memory of one entry. The service reads a file twice — once to validate it as a unit
 * (this reader's `end()` answers the totals or throws), then once more to record its postings.
 *
 * What is read, as banks really write it (versions .001.02, .04, .06 and .08):
 * - exactly one `Stmt`; its account from `Acct/Id/IBAN` or `Acct/Id/Othr/Id`;
 * - the balances typed `Tp/CdOrPrtry/Cd` `OPBD` and `CLBD` (each at most once, `CLBD` required; a file without
 *   `OPBD` opens with its `PRCD`, the previous statement's closing booked balance, decision 0225;
 *   other types — `OPAV`, `CLAV`, `ITBD`, `FWAV`… — are ignored), signed by their `CdtDbtInd`;
 * - booked entries only (`Sts` as text `BOOK`, or `Sts/Cd` `BOOK` from .08); other entries are
 *   skipped and not counted (they are not in the booked balances);
 * - every amount in `CNY` (`Amt/@Ccy`), at most two decimals and more than zero; an entry's at most
 *   the largest single amount (decision 0190);
 * - the value date from `ValDt`, else `BookgDt`, each as `Dt` or `DtTm` (its date as written);
 * - `bankRef` from the entry's `AcctSvcrRef`, else its `NtryRef`; an entry with no or one `TxDtls`
 *   is one posting, with n ≥ 2 `TxDtls` it is n postings `{bankRef}-{i}` (i from 1), each with
 *   its own amount (`TxDtls/Amt`, else `TxDtls/AmtDtls/TxAmt/Amt`) adding up to the entry's
 *   (a single TxDtls's amount, when it has one, is the entry's);
 * - per posting: the instruction number from `Refs/EndToEndId` when it is one (`TF`…; any other
 *   end-to-end reference, `NOTPROVIDED` included, is none, decision 0222), the memo
 *   from `RmtInf/Ustrd` (several joined by a space; else `AddtlTxInf`, else the entry's
 *   `AddtlNtryInf`), the counterparty from `RltdPties/Dbtr` for a credit and `RltdPties/Cdtr` for a
 *   debit (`Nm`, or `Pty/Nm` from .08) with its account (`DbtrAcct`/`CdtrAcct`, IBAN or Othr/Id).
 * `RvslInd` changes nothing: `CdtDbtInd` is the direction of the booking itself.
 *
 * No two postings of a file share a bankRef (an entry's reference, or `{bankRef}-{i}` of its
 * TxDtls), else the file is refused.
 *
 * The opening (OPBD, else PRCD) + credits − debits must equal CLBD, else STATEMENT_TOTALS_MISMATCH; anything else wrong is
 * STATEMENT_MALFORMED in the catalogue's shape (`details.lines`, `details.problemCount`): the reader
 * stops at the first such problem and names its line. Whether a value date is in the platform's
 * window is the service's check, on every posting (decision 0199).
 */

export const CAMT053_VERSIONS = ['camt.053.001.02', 'camt.053.001.04', 'camt.053.001.06', 'camt.053.001.08'] as const;
export type Camt053Version = (typeof CAMT053_VERSIONS)[number];
const NAMESPACE_PREFIX = 'urn:iso:std:iso:20022:tech:xsd:';
export const STATEMENT_CURRENCY = 'CNY';

/** One posting of a statement: the JSON posting's input, and where it came from. */
export interface Camt053Posting extends BankPostingInput {
  /** The 1-based number of the booked entry in the file. */
  entryNo: number;
  /** The line of the element its value date was read from (`ValDt`, else `BookgDt`). */
  valueDateLine: number;
  /** The line of its entry's `<Ntry>` start tag: where a refusal of the posting points. */
  entryLine: number;
}

export interface Camt053Summary {
  version: Camt053Version;
  messageId: string;
  statementId: string;
  electronicSeqNo: string | null;
  accountNo: string;
  openingBalance: Decimal;
  closingBalance: Decimal;
  /** Booked entries. */
  entryCount: number;
  /** Entries skipped because they are not booked (PDNG, INFO…). */
  skippedEntryCount: number;
  postingCount: number;
  creditTotal: Decimal;
  debitTotal: Decimal;
}

/** Money with its sign: a debit balance is negative. */
export function formatSignedMoney(value: Decimal): string {
  return value.isNegative() ? `-${formatMoney(value.abs())}` : formatMoney(value);
}

const AMOUNT = /^[0-9]{1,18}(?:\.[0-9]{1,5})?$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?$/;

interface Balance {
  type?: string;
  amount?: Decimal;
  currency?: string;
  sign?: string;
}

interface TxDetails {
  amount?: Decimal;
  amountCurrency?: string;
  txAmount?: Decimal;
  txAmountCurrency?: string;
  endToEndId?: string;
  ustrd: string[];
  addtlTxInf?: string;
  debtorName?: string;
  debtorAccount?: string;
  creditorName?: string;
  creditorAccount?: string;
}

interface Entry {
  line: number;
  amount?: Decimal;
  currency?: string;
  sign?: string;
  status?: string;
  bookingDate?: string;
  bookingDateLine?: number;
  valueDate?: string;
  valueDateLine?: number;
  ntryRef?: string;
  acctSvcrRef?: string;
  addtlNtryInf?: string;
  details: TxDetails[];
}

function newTx(): TxDetails {
  return { ustrd: [] };
}

export class Camt053Reader {
  private readonly tokenizer: XmlStreamTokenizer;
  private readonly path: string[] = [];
  /** For each open element, its path below `Stmt` (undefined outside a statement). */
  private readonly statementPaths: Array<string | undefined> = [];
  private version: Camt053Version | undefined;
  private messageId: string | undefined;
  private statementCount = 0;
  private statementId: string | undefined;
  private electronicSeqNo: string | null = null;
  private accountNo: string | undefined;
  private balance: Balance | undefined;
  private opening: Decimal | undefined;
  /**
   * PRCD, the previous statement's closing booked balance: the opening of a file without OPBD
   * (decision 0225). Checked only when it is used: beside an OPBD it is ignored, as before.
   */
  private readonly previouslyClosed: Array<{ value: Decimal } | { line: number; problem: string }> = [];
  private closing: Decimal | undefined;
  private entry: Entry | undefined;
  private tx: TxDetails | undefined;
  /** The currency of the `Amt` element open now. */
  private amountCurrency: string | undefined;
  private entryCount = 0;
  private skippedEntryCount = 0;
  private postingCount = 0;
  private creditTotal: Decimal = ZERO;
  private debitTotal: Decimal = ZERO;
  /**
   * Each posting's bankRef and the entry that gave it. A reference is the bank's identity of one
   * booking, and a posting is idempotent on it: a second entry under the same reference would be
   * recorded as a replay of the first and its money lost from the books while the balances still
   * add up, so a file repeating one is refused as a unit.
   */
  private readonly entryNoOfRef = new Map<string, number>();

  /** @param onPosting called for each posting as its entry closes, in file order. */
  constructor(private readonly onPosting: (posting: Camt053Posting) => void) {
    this.tokenizer = new XmlStreamTokenizer({ start: (element) => this.start(element), end: (name, text) => this.close(name, text) });
  }

  feed(chunk: string): void {
    this.tokenizer.feed(chunk);
  }

  /** The whole file is in: its totals, checked (STATEMENT_TOTALS_MISMATCH) — or a refusal. */
  end(): Camt053Summary {
    this.tokenizer.end();
    if (this.version === undefined) throw malformed(this.line, 'not a camt.053 document');
    if (this.messageId === undefined) throw malformed(this.line, 'GrpHdr/MsgId is missing');
    if (this.statementCount !== 1 || this.statementId === undefined) throw malformed(this.line, `a statement file holds exactly one Stmt with an Id, this one ${this.statementCount}`);
    if (this.accountNo === undefined) throw malformed(this.line, 'Stmt/Acct/Id has neither IBAN nor Othr/Id');
    const openingType = this.opening !== undefined ? 'OPBD' : 'PRCD';
    const opening = this.opening ?? this.previouslyClosedOpening();
    if (opening === undefined || this.closing === undefined) throw malformed(this.line, 'Stmt needs an opening balance (OPBD, else PRCD) and one CLBD balance');
    const expected = opening.plus(this.creditTotal).minus(this.debitTotal);
    if (!expected.eq(this.closing)) {
      throw new TongfuError('STATEMENT_TOTALS_MISMATCH', `${openingType} ${formatSignedMoney(opening)} + credits ${formatMoney(this.creditTotal)} − debits ${formatMoney(this.debitTotal)} = ${formatSignedMoney(expected)}, but CLBD is ${formatSignedMoney(this.closing)}`, {
        openingBalance: formatSignedMoney(opening),
        closingBalance: formatSignedMoney(this.closing),
        creditTotal: formatMoney(this.creditTotal),
        debitTotal: formatMoney(this.debitTotal),
        expectedClosingBalance: formatSignedMoney(expected),
      });
    }
    return {
      version: this.version,
      messageId: this.messageId,
      statementId: this.statementId,
      electronicSeqNo: this.electronicSeqNo,
      accountNo: this.accountNo,
      openingBalance: opening,
      closingBalance: this.closing,
      entryCount: this.entryCount,
      skippedEntryCount: this.skippedEntryCount,
      postingCount: this.postingCount,
      creditTotal: this.creditTotal,
      debitTotal: this.debitTotal,
    };
  }

  private get line(): number {
    return this.tokenizer.currentLine;
  }

  /** The statement's account once `Stmt/Acct/Id` is read (the file may still be refused later). */
  get statementAccountNo(): string | undefined {
    return this.accountNo;
  }

  /** The line the reader has reached: where a problem found outside it (the file's encoding) is put. */
  get currentLine(): number {
    return this.tokenizer.currentLine;
  }

  private fail(message: string): never {
    throw malformed(this.line, message);
  }

  /** The path below `Stmt` of the element open now (e.g. `Ntry/NtryDtls/TxDtls/Amt`), or undefined outside a statement. */
  private statementPath(): string | undefined {
    return this.statementPaths[this.statementPaths.length - 1];
  }

  private start(element: XmlStart): void {
    const depth = this.path.length;
    if (depth === 0) this.root(element);
    if (depth === 1 && element.name !== 'BkToCstmrStmt') this.fail(`<${element.name}> is not BkToCstmrStmt: only camt.053 statements are accepted`);
    const parent = this.statementPath();
    this.statementPaths.push(parent !== undefined ? (parent === '' ? element.name : `${parent}/${element.name}`) : depth === 2 && element.name === 'Stmt' && this.path[1] === 'BkToCstmrStmt' ? '' : undefined);
    this.path.push(element.name);
    if (element.name === 'Amt') this.amountCurrency = element.attributes.Ccy;
    const at = this.statementPath();
    if (depth === 2 && element.name === 'Stmt') {
      this.statementCount += 1;
      if (this.statementCount > 1) this.fail('a statement file holds exactly one Stmt');
    }
    if (at === 'Bal') this.balance = {};
    else if (at === 'Ntry') this.entry = { line: this.line, details: [] };
    else if (at === 'Ntry/NtryDtls/TxDtls') this.tx = newTx();
  }

  private root(element: XmlStart): void {
    if (element.name !== 'Document') this.fail(`the root is <${element.qName}>, not Document`);
    const colon = element.qName.indexOf(':');
    const namespace = colon < 0 ? element.attributes.xmlns : element.attributes[`xmlns:${element.qName.slice(0, colon)}`];
    const version = namespace?.startsWith(NAMESPACE_PREFIX) ? namespace.slice(NAMESPACE_PREFIX.length) : undefined;
    if (version === undefined || !(CAMT053_VERSIONS as readonly string[]).includes(version)) {
      this.fail(`the namespace ${JSON.stringify(namespace ?? null)} is not camt.053 ${CAMT053_VERSIONS.map((v) => v.slice(-6)).join(', ')}`);
    }
    this.version = version as Camt053Version;
  }

  private close(name: string, rawText: string): void {
    const at = this.statementPath();
    const text = rawText.trim();
    if (name === 'MsgId' && this.path.length === 4 && this.path[2] === 'GrpHdr') this.messageId = this.required(text, 'GrpHdr/MsgId');
    if (at !== undefined && at !== '') this.inStatement(at, text);
    this.path.pop();
    this.statementPaths.pop();
  }

  private required(text: string, what: string): string {
    if (text.length === 0) this.fail(`${what} is empty`);
    return text;
  }

  private amount(text: string, what: string): Decimal {
    if (!AMOUNT.test(text)) this.fail(`${what} ${JSON.stringify(text.slice(0, 32))} is not an amount`);
    const value = new Decimal(text);
    if (value.decimalPlaces() > 2) this.fail(`${what} ${text} has more than two decimals`);
    if (value.gte(MONEY_LIMIT)) this.fail(`${what} ${text} is too large`);
    return value;
  }

  private currency(what: string): string {
    const currency = this.amountCurrency;
    if (currency !== STATEMENT_CURRENCY) {
      throw malformed(this.line, `${what} is in ${currency ?? 'no currency'}: statements are in ${STATEMENT_CURRENCY}`, { currency: currency ?? null });
    }
    return currency;
  }

  private date(text: string, what: string, isDateTime: boolean): string {
    const date = isDateTime ? DATE_TIME.exec(text)?.[1] : text;
    if (date === undefined || !isValidDate(date)) this.fail(`${what} ${JSON.stringify(text.slice(0, 40))} is not a ${isDateTime ? 'date and time' : 'date'}`);
    return date;
  }

  private inStatement(at: string, text: string): void {
    switch (at) {
      case 'Id':
        this.statementId = this.required(text, 'Stmt/Id');
        return;
      case 'ElctrncSeqNb':
        this.electronicSeqNo = text;
        return;
      case 'Acct/Id/IBAN':
      case 'Acct/Id/Othr/Id':
        if (this.accountNo !== undefined) this.fail('Stmt/Acct/Id names two accounts');
        this.accountNo = this.required(text, at);
        return;
      case 'Acct/Ccy':
        if (text !== STATEMENT_CURRENCY) throw malformed(this.line, `the account is in ${text}: statements are in ${STATEMENT_CURRENCY}`, { currency: text });
        return;
      case 'Bal/Tp/CdOrPrtry/Cd':
        if (this.balance) this.balance.type = text;
        return;
      case 'Bal/Amt':
        if (this.balance) {
          this.balance.amount = this.amount(text, 'Bal/Amt');
          this.balance.currency = this.amountCurrency;
        }
        return;
      case 'Bal/CdtDbtInd':
        if (this.balance) this.balance.sign = text;
        return;
      case 'Bal':
        this.closeBalance();
        return;
      case 'Ntry':
        this.closeEntry();
        return;
      default:
    }
    if (at.startsWith('Ntry/')) this.inEntry(at.slice(5), text);
  }

  private closeBalance(): void {
    const balance = this.balance;
    this.balance = undefined;
    if (balance !== undefined && balance.type === 'PRCD') {
      this.previouslyClosed.push(this.readPreviouslyClosed(balance));
      return;
    }
    if (balance === undefined || (balance.type !== 'OPBD' && balance.type !== 'CLBD')) return;
    if (balance.amount === undefined) this.fail(`the ${balance.type} balance has no Amt`);
    if (balance.currency !== STATEMENT_CURRENCY) throw malformed(this.line, `the ${balance.type} balance is in ${balance.currency ?? 'no currency'}: statements are in ${STATEMENT_CURRENCY}`, { currency: balance.currency ?? null });
    if (balance.sign !== 'CRDT' && balance.sign !== 'DBIT') this.fail(`the ${balance.type} balance's CdtDbtInd must be CRDT or DBIT`);
    const signed = balance.sign === 'DBIT' ? balance.amount.negated() : balance.amount;
    if (balance.type === 'OPBD') {
      if (this.opening !== undefined) this.fail('two OPBD balances');
      this.opening = signed;
    } else {
      if (this.closing !== undefined) this.fail('two CLBD balances');
      this.closing = signed;
    }
  }

  /** A PRCD balance, or the problem it would be if it opened the statement. */
  private readPreviouslyClosed(balance: Balance): { value: Decimal } | { line: number; problem: string } {
    const problem = (message: string) => ({ line: this.line, problem: message });
    if (balance.amount === undefined) return problem('the PRCD balance has no Amt');
    if (balance.currency !== STATEMENT_CURRENCY) return problem(`the PRCD balance is in ${balance.currency ?? 'no currency'}: statements are in ${STATEMENT_CURRENCY}`);
    if (balance.sign !== 'CRDT' && balance.sign !== 'DBIT') return problem("the PRCD balance's CdtDbtInd must be CRDT or DBIT");
    return { value: balance.sign === 'DBIT' ? balance.amount.negated() : balance.amount };
  }

  /** The opening of a statement without OPBD: its one PRCD (decision 0225), else undefined. */
  private previouslyClosedOpening(): Decimal | undefined {
    const [first, second] = this.previouslyClosed;
    if (first === undefined) return undefined;
    if (second !== undefined) this.fail('two PRCD balances and no OPBD: which one opens the statement?');
    if ('problem' in first) throw malformed(first.line, first.problem);
    return first.value;
  }

  private inEntry(at: string, text: string): void {
    const entry = this.entry;
    if (entry === undefined) return;
    switch (at) {
      case 'Amt':
        entry.amount = this.amount(text, 'Ntry/Amt');
        entry.currency = this.amountCurrency;
        return;
      case 'CdtDbtInd':
        entry.sign = text;
        return;
      case 'Sts':
        // .02–.06 write the code as text; .08 nests it (Sts/Cd), leaving Sts itself empty.
        if (text.length > 0) entry.status = text;
        return;
      case 'Sts/Cd':
        entry.status = text;
        return;
      case 'BookgDt/Dt':
      case 'BookgDt/DtTm':
        entry.bookingDate = this.date(text, `Ntry/${at}`, at.endsWith('DtTm'));
        entry.bookingDateLine = this.line;
        return;
      case 'ValDt/Dt':
      case 'ValDt/DtTm':
        entry.valueDate = this.date(text, `Ntry/${at}`, at.endsWith('DtTm'));
        entry.valueDateLine = this.line;
        return;
      case 'NtryRef':
        entry.ntryRef = text;
        return;
      case 'AcctSvcrRef':
        entry.acctSvcrRef = text;
        return;
      case 'AddtlNtryInf':
        entry.addtlNtryInf = text;
        return;
      case 'NtryDtls/TxDtls':
        if (this.tx) entry.details.push(this.tx);
        this.tx = undefined;
        return;
      default:
    }
    if (at.startsWith('NtryDtls/TxDtls/') && this.tx) this.inTx(this.tx, at.slice('NtryDtls/TxDtls/'.length), text);
  }

  private inTx(tx: TxDetails, at: string, text: string): void {
    switch (at) {
      case 'Amt':
        tx.amount = this.amount(text, 'TxDtls/Amt');
        tx.amountCurrency = this.amountCurrency;
        return;
      case 'AmtDtls/TxAmt/Amt':
        tx.txAmount = this.amount(text, 'TxDtls/AmtDtls/TxAmt/Amt');
        tx.txAmountCurrency = this.amountCurrency;
        return;
      case 'Refs/EndToEndId':
        tx.endToEndId = text;
        return;
      case 'RmtInf/Ustrd':
        if (text.length > 0) tx.ustrd.push(text);
        return;
      case 'AddtlTxInf':
        tx.addtlTxInf = text;
        return;
      case 'RltdPties/Dbtr/Nm':
      case 'RltdPties/Dbtr/Pty/Nm':
        tx.debtorName = text;
        return;
      case 'RltdPties/DbtrAcct/Id/IBAN':
      case 'RltdPties/DbtrAcct/Id/Othr/Id':
        tx.debtorAccount = text;
        return;
      case 'RltdPties/Cdtr/Nm':
      case 'RltdPties/Cdtr/Pty/Nm':
        tx.creditorName = text;
        return;
      case 'RltdPties/CdtrAcct/Id/IBAN':
      case 'RltdPties/CdtrAcct/Id/Othr/Id':
        tx.creditorAccount = text;
        return;
      default:
    }
  }

  private closeEntry(): void {
    const entry = this.entry;
    this.entry = undefined;
    if (entry === undefined) return;
    if (entry.status === undefined) this.fail('the entry has no Sts');
    if (entry.status !== 'BOOK') {
      this.skippedEntryCount += 1;
      return;
    }
    this.entryCount += 1;
    const entryNo = this.entryCount;
    if (entry.amount === undefined) this.fail(`entry ${entryNo} has no Amt`);
    if (entry.currency !== STATEMENT_CURRENCY) throw malformed(this.line, `entry ${entryNo} is in ${entry.currency ?? 'no currency'}: statements are in ${STATEMENT_CURRENCY}`, { currency: entry.currency ?? null });
    if (!entry.amount.gt(ZERO)) this.fail(`entry ${entryNo}'s amount must be more than 0.00`);
    if (entry.amount.gte(SINGLE_AMOUNT_LIMIT)) this.fail(`entry ${entryNo}'s amount ${formatMoney(entry.amount)} is more than ${SINGLE_AMOUNT_MAX}, the largest single amount the platform takes in`);
    if (entry.sign !== 'CRDT' && entry.sign !== 'DBIT') this.fail(`entry ${entryNo}'s CdtDbtInd must be CRDT or DBIT`);
    const direction: PostingDirection = entry.sign === 'CRDT' ? 'CREDIT' : 'DEBIT';
    const valueDate = entry.valueDate ?? entry.bookingDate;
    if (valueDate === undefined) this.fail(`entry ${entryNo} has neither ValDt nor BookgDt`);
    const valueDateLine = (entry.valueDate !== undefined ? entry.valueDateLine : entry.bookingDateLine) ?? entry.line;
    const bankRef = entry.acctSvcrRef !== undefined && entry.acctSvcrRef.length > 0 ? entry.acctSvcrRef : entry.ntryRef;
    if (bankRef === undefined || bankRef.length === 0) this.fail(`entry ${entryNo} has neither AcctSvcrRef nor NtryRef`);
    if (direction === 'CREDIT') this.creditTotal = this.creditTotal.plus(entry.amount);
    else this.debitTotal = this.debitTotal.plus(entry.amount);

    const details = entry.details;
    if (details.length <= 1) {
      const tx = details[0];
      const txAmount = tx === undefined ? undefined : this.txAmount(tx, entryNo, 1);
      // One transaction is the whole entry: an amount of its own that differs contradicts the
      // booking, as n TxDtls that do not add up to it do.
      if (txAmount !== undefined && !txAmount.eq(entry.amount)) this.fail(`entry ${entryNo}: its TxDtls amount is ${formatMoney(txAmount)}, the entry is ${formatMoney(entry.amount)}`);
      this.emit(entry, entryNo, bankRef, direction, entry.amount, { valueDate, valueDateLine }, tx);
      return;
    }
    let sum: Decimal = ZERO;
    const amounts = details.map((tx, index) => {
      const amount = this.txAmount(tx, entryNo, index + 1);
      if (amount === undefined) this.fail(`entry ${entryNo} has ${details.length} TxDtls, and TxDtls ${index + 1} has no amount`);
      if (!amount.gt(ZERO)) this.fail(`entry ${entryNo}, TxDtls ${index + 1}: the amount must be more than 0.00`);
      sum = sum.plus(amount);
      return amount;
    });
    if (!sum.eq(entry.amount)) this.fail(`entry ${entryNo}: its ${details.length} TxDtls add up to ${formatMoney(sum)}, the entry is ${formatMoney(entry.amount)}`);
    details.forEach((tx, index) => this.emit(entry, entryNo, `${bankRef}-${index + 1}`, direction, amounts[index] as Decimal, { valueDate, valueDateLine }, tx));
  }

  /** A TxDtls's own amount (Amt, else AmtDtls/TxAmt/Amt), in CNY; undefined when it has none. */
  private txAmount(tx: TxDetails, entryNo: number, index: number): Decimal | undefined {
    const amount = tx.amount ?? tx.txAmount;
    const currency = tx.amount !== undefined ? tx.amountCurrency : tx.txAmountCurrency;
    if (amount !== undefined && currency !== STATEMENT_CURRENCY) throw malformed(this.line, `entry ${entryNo}, TxDtls ${index} is in ${currency ?? 'no currency'}: statements are in ${STATEMENT_CURRENCY}`, { currency: currency ?? null });
    return amount;
  }

  private emit(entry: Entry, entryNo: number, bankRef: string, direction: PostingDirection, amount: Decimal, { valueDate, valueDateLine }: { valueDate: string; valueDateLine: number }, tx: TxDetails | undefined): void {
    if (!BANK_REF_PATTERN.test(bankRef)) this.fail(`entry ${entryNo}: the reference ${JSON.stringify(bankRef.slice(0, 80))} is not 1–64 printable ASCII characters without spaces`);
    const earlierEntryNo = this.entryNoOfRef.get(bankRef);
    if (earlierEntryNo !== undefined) {
      this.fail(`entry ${entryNo}: the reference ${bankRef} is already entry ${earlierEntryNo}'s; each booked entry (and each of its TxDtls) needs its own AcctSvcrRef, else NtryRef`);
    }
    this.entryNoOfRef.set(bankRef, entryNo);
    const endToEnd = tx?.endToEndId;
    // EndToEndId is the originator's own reference: it names an instruction only when it is an
    // instruction number; any other (an agency's payment order id, NOTPROVIDED) is none, and the
    // memo is looked in, as for an entry without one (decision 0222).
    const instructionNo = endToEnd !== undefined && INSTRUCTION_NO_PATTERN.test(endToEnd) ? endToEnd : undefined;
    const memoText = tx !== undefined && tx.ustrd.length > 0 ? tx.ustrd.join(' ') : (tx?.addtlTxInf ?? entry.addtlNtryInf);
    const memo = memoText !== undefined && memoText.length > 0 ? memoText.slice(0, MEMO_CHARS_MAX) : undefined;
    const name = direction === 'CREDIT' ? tx?.debtorName : tx?.creditorName;
    const account = direction === 'CREDIT' ? tx?.debtorAccount : tx?.creditorAccount;
    const counterparty = name !== undefined && name.length > 0 ? { name: name.slice(0, COUNTERPARTY_NAME_CHARS_MAX), ...(account !== undefined && account.length > 0 ? { accountNo: account.slice(0, COUNTERPARTY_ACCOUNT_CHARS_MAX) } : {}) } : undefined;
    this.postingCount += 1;
    this.onPosting({
      entryNo,
      bankRef,
      accountNo: this.accountNo ?? this.fail('the entries come before Stmt/Acct'),
      direction,
      amount,
      valueDate,
      valueDateLine,
      entryLine: entry.line,
      ...(instructionNo !== undefined ? { instructionNo } : {}),
      ...(memo !== undefined ? { memo } : {}),
      ...(counterparty !== undefined ? { counterparty } : {}),
    });
  }
}
