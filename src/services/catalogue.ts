import type { Knex } from 'knex';
import { canonicalJson } from '../crypto/canonicalJson';
import type { Db } from '../db/database';
import type { PageRequest } from '../db/pagination';
import * as repo from '../db/repositories/catalogue';
import type { AccountKind, AccountRow, ItemRow, RegionRow, ShareRow, SharingRuleRow } from '../db/repositories/catalogue';
import type { Queryable } from '../db/database';
import { findPartyByRoleCode } from '../db/repositories/parties';
import type { Clocks } from '../domain/clock';
import { assert, FieldProblem, TongfuError, validationFailed } from '../domain/errors';
import type { LateFeeRule } from '../domain/lateFee';
import { Decimal, formatMoney, parseMoney, parseRate, RATE_PER_DAY_DECIMALS_MAX, RATIO_DECIMALS_MAX } from '../domain/money';
import type { ItemPricing, ItemStatus } from '../domain/noticePricing';
import type { Logger } from '../logger';
import { type AuditAction, type AuditSnapshot, recordAudit } from './audit';

/**
 * The finance department's catalogue (docs/interface.md §6.1): regions, accounts, sharing rules,
 * items, and which items each unit may charge. Every use case runs in one transaction, so a
 * refused request writes nothing.
 *
 * A PUT whose content equals what is stored answers 200 and writes nothing (not even updatedAt).
 * Every PUT that creates or changes something records it in the finance audit log
 * (src/services/audit.ts) in its transaction, with the finance party that made it (`actor`).
 *
 * Errors, in the order each use case checks them: VALIDATION_FAILED (with every problem listed;
 * AMOUNT_INVALID for a pricing amount that is not money), the resource's NOT_FOUND (reads and the
 * unit of an authorisation set), UNKNOWN_REFERENCE (a code that names nothing registered, or
 * nothing of the kind the field needs), then the rules that depend on stored rows
 * (VALIDATION_FAILED: a region cycle, an account kind its users forbid).
 */

/** Kinds an item's receiving account may have: revenue reaches a fiscal or a treasury account. */
export const RECEIVING_ACCOUNT_KINDS: readonly AccountKind[] = ['FISCAL', 'TREASURY'];
/** The kind an agency's clearing account (汇缴户) must have. */
export const CLEARING_ACCOUNT_KIND: AccountKind = 'CLEARING';

/** Budget levels 1–5 are government levels; 0 means "split by a sharing rule". */
export const BUDGET_LEVEL_SHARED = 0;
export const BUDGET_LEVEL_MIN = 0;
export const BUDGET_LEVEL_MAX = 5;

/**
 * GB/T 2260 has three levels and townships add a fourth; a deeper chain is a data error, and the
 * limit also bounds the cycle check's walk up the hierarchy.
 */
export const REGION_DEPTH_MAX = 8;

/** How many referencing codes an error names before it stops listing them. */
const REFERENCES_LISTED_MAX = 10;

/** A unit may be authorised for at most this many items in one set (the contract says the same). */
export const UNIT_ITEMS_MAX = 1000;

export interface Region {
  regionCode: string;
  name: string;
  parentCode: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Account {
  accountNo: string;
  name: string;
  bankCode: string;
  kind: AccountKind;
  createdAt: Date;
  updatedAt: Date;
}

export interface Share {
  budgetLevel: number;
  ratio: Decimal;
}

export interface SharingRule {
  ruleCode: string;
  name: string;
  /** In finance's order; the last share takes the rounding remainder (docs/settlement.md §4). */
  shares: Share[];
  createdAt: Date;
  updatedAt: Date;
}

export interface Item {
  itemCode: string;
  name: string;
  incomeSortCode: string;
  budgetLevel: number;
  /** Set exactly when budgetLevel is 0. */
  sharingRuleCode: string | null;
  receivingAccountNo: string;
  pricing: ItemPricing;
  lateFee: LateFeeRule;
  status: ItemStatus;
  /** 1 when created, +1 for each change of content (see item_versions). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface UnitItems {
  unitCode: string;
  itemCodes: string[];
}

/** What a PUT did: `created` answers 201, otherwise 200 (docs/interface.md §4). */
export interface Upserted<T> {
  resource: T;
  created: boolean;
}

export interface ListPage<T> {
  data: T[];
  nextCursor: string | null;
}

// ---- inputs: the request bodies, as the contract has already shaped them ----------------------

export interface PutRegionInput {
  name: string;
  parentCode?: string;
}

export interface PutAccountInput {
  name: string;
  bankCode: string;
  kind: AccountKind;
}

export interface PutSharingRuleInput {
  name: string;
  shares: Array<{ budgetLevel: number; ratio: string }>;
}

export type PricingInput = { type: 'FIXED'; amount: string } | { type: 'RANGE'; min: string; max: string };
export type LateFeeInput = { type: 'NONE' } | { type: 'DAILY_RATE'; ratePerDay: string; capRatio: string };

export interface PutItemInput {
  name: string;
  incomeSortCode: string;
  budgetLevel: number;
  sharingRuleCode?: string;
  receivingAccountNo: string;
  pricing: PricingInput;
  lateFee: LateFeeInput;
  status: ItemStatus;
}

export interface PutUnitItemsInput {
  itemCodes: string[];
}

export interface CatalogueDependencies {
  db: Db;
  clocks: Clocks;
  log: Logger;
}

// ---- errors ------------------------------------------------------------------------------------

function notFound(what: string, field: string, code: string): TongfuError {
  return new TongfuError('NOT_FOUND', `no ${what} ${code} is registered`, { [field]: code });
}

/** One UNKNOWN_REFERENCE naming every reference that failed, in the shape VALIDATION_FAILED uses. */
export function unknownReferences(fields: FieldProblem[]): TongfuError {
  assert(fields.length > 0, 'unknownReferences needs at least one reference');
  return new TongfuError('UNKNOWN_REFERENCE', `unknown reference: ${fields.map((f) => `${f.path}: ${f.problem}`).join('; ')}`, { fields });
}

// ---- pure rules --------------------------------------------------------------------------------

/**
 * A sharing rule's shares: budget levels 1–5, each at most once, ratios above 0 with up to four
 * decimals, summing to exactly 1 (compared as decimals, so `0.3333 × 3` is not 1).
 */
export function parseShares(shares: PutSharingRuleInput['shares']): { shares: Share[]; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const parsed: Share[] = [];
  const seenLevels = new Map<number, number>();
  shares.forEach((share, index) => {
    if (!Number.isInteger(share.budgetLevel) || share.budgetLevel < 1 || share.budgetLevel > BUDGET_LEVEL_MAX) {
      problems.push({ path: `/shares/${index}/budgetLevel`, problem: `a share's budget level is 1–${BUDGET_LEVEL_MAX}` });
    } else if (seenLevels.has(share.budgetLevel)) {
      problems.push({ path: `/shares/${index}/budgetLevel`, problem: `budget level ${share.budgetLevel} already has a share (at /shares/${seenLevels.get(share.budgetLevel)})` });
    } else {
      seenLevels.set(share.budgetLevel, index);
    }
    const ratio = parseRate(share.ratio, RATIO_DECIMALS_MAX);
    if (ratio === null) {
      problems.push({ path: `/shares/${index}/ratio`, problem: `must be a decimal string with at most ${RATIO_DECIMALS_MAX} decimals, e.g. "0.25"` });
    } else if (ratio.lte(0) || ratio.gt(1)) {
      problems.push({ path: `/shares/${index}/ratio`, problem: 'must be greater than 0 and at most 1' });
    } else {
      parsed.push({ budgetLevel: share.budgetLevel, ratio });
    }
  });
  if (shares.length === 0) problems.push({ path: '/shares', problem: 'a sharing rule needs at least one share' });
  if (problems.length === 0) {
    const total = parsed.reduce((sum, share) => sum.plus(share.ratio), new Decimal(0));
    if (!total.eq(1)) problems.push({ path: '/shares', problem: `the ratios must sum to exactly 1; they sum to ${total.toString()}` });
  }
  return { shares: parsed, problems };
}

/** Same levels with equal ratios in the same order. */
function sameShares(a: readonly Share[], b: readonly Share[]): boolean {
  return a.length === b.length && a.every((share, index) => share.budgetLevel === b[index]?.budgetLevel && share.ratio.eq(b[index].ratio));
}

/** An item's pricing: money amounts (AMOUNT_INVALID otherwise), and min ≤ max for a range. */
export function parsePricing(input: PricingInput, problems: FieldProblem[]): ItemPricing | undefined {
  const money = (value: string, field: string): Decimal => {
    const amount = parseMoney(value);
    if (amount === null) {
      throw new TongfuError('AMOUNT_INVALID', `/pricing/${field} is not an amount: money is a string like "123.45"`, { fields: [{ path: `/pricing/${field}`, problem: 'must be a decimal string with exactly two decimals' }] });
    }
    return amount;
  };
  if (input.type === 'FIXED') {
    const amount = money(input.amount, 'amount');
    // A notice of a free item could never be paid: a payment moves money.
    if (amount.isZero()) {
      problems.push({ path: '/pricing/amount', problem: 'must be above 0.00' });
      return undefined;
    }
    return { type: 'FIXED', amount };
  }
  const min = money(input.min, 'min');
  const max = money(input.max, 'max');
  if (min.gt(max)) {
    problems.push({ path: '/pricing/max', problem: `max (${input.max}) must not be less than min (${input.min})` });
    return undefined;
  }
  return { type: 'RANGE', min, max };
}

/** An item's late-fee rule: `ratePerDay` up to six decimals, `capRatio` up to four. */
export function parseLateFee(input: LateFeeInput, problems: FieldProblem[]): LateFeeRule | undefined {
  if (input.type === 'NONE') return { type: 'NONE' };
  const ratePerDay = parseRate(input.ratePerDay, RATE_PER_DAY_DECIMALS_MAX);
  const capRatio = parseRate(input.capRatio, RATIO_DECIMALS_MAX);
  if (ratePerDay === null) problems.push({ path: '/lateFee/ratePerDay', problem: `must be a decimal string with at most ${RATE_PER_DAY_DECIMALS_MAX} decimals, e.g. "0.0005"` });
  if (capRatio === null) problems.push({ path: '/lateFee/capRatio', problem: `must be a decimal string with at most ${RATIO_DECIMALS_MAX} decimals, e.g. "1"` });
  if (ratePerDay === null || capRatio === null) return undefined;
  return { type: 'DAILY_RATE', ratePerDay, capRatio };
}

/** A rate or ratio as the wire shows it: the shortest exact decimal, e.g. "0.0005", "1". */
export function formatRate(value: Decimal): string {
  return new Decimal(value).toFixed();
}

/**
 * An item's content as its history records it and the wire shows it: everything a PUT sets, in
 * the wire's units. Two PUTs with the same content give the same canonical JSON.
 */
export function itemContent(item: Pick<Item, 'name' | 'incomeSortCode' | 'budgetLevel' | 'sharingRuleCode' | 'receivingAccountNo' | 'pricing' | 'lateFee' | 'status'>): Record<string, unknown> {
  return {
    name: item.name,
    incomeSortCode: item.incomeSortCode,
    budgetLevel: item.budgetLevel,
    ...(item.sharingRuleCode !== null ? { sharingRuleCode: item.sharingRuleCode } : {}),
    receivingAccountNo: item.receivingAccountNo,
    pricing: item.pricing.type === 'FIXED' ? { type: 'FIXED', amount: formatMoney(item.pricing.amount) } : { type: 'RANGE', min: formatMoney(item.pricing.min), max: formatMoney(item.pricing.max) },
    lateFee: item.lateFee.type === 'NONE' ? { type: 'NONE' } : { type: 'DAILY_RATE', ratePerDay: formatRate(new Decimal(item.lateFee.ratePerDay)), capRatio: formatRate(new Decimal(item.lateFee.capRatio)) },
    status: item.status,
  };
}

// ---- rows → domain -----------------------------------------------------------------------------

function toRegion(row: RegionRow): Region {
  return { regionCode: row.code, name: row.name, parentCode: row.parent_code, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toAccount(row: AccountRow): Account {
  return { accountNo: row.account_no, name: row.name, bankCode: row.bank_code, kind: row.kind, createdAt: row.created_at, updatedAt: row.updated_at };
}

function toSharingRule(row: SharingRuleRow, shares: readonly ShareRow[]): SharingRule {
  return {
    ruleCode: row.code,
    name: row.name,
    shares: shares.filter((share) => share.sharing_rule_id === row.id).map((share) => ({ budgetLevel: share.budget_level, ratio: new Decimal(share.ratio) })),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function requiredNumeric(value: string | null, column: string, code: string): Decimal {
  assert(value !== null, `item ${code}: ${column} is set for its type (a CHECK constraint says so)`);
  return new Decimal(value);
}

export function toItem(row: ItemRow): Item {
  const pricing: ItemPricing =
    row.pricing_type === 'FIXED'
      ? { type: 'FIXED', amount: requiredNumeric(row.fixed_amount, 'fixed_amount', row.code) }
      : { type: 'RANGE', min: requiredNumeric(row.min_amount, 'min_amount', row.code), max: requiredNumeric(row.max_amount, 'max_amount', row.code) };
  const lateFee: LateFeeRule =
    row.late_fee_type === 'NONE'
      ? { type: 'NONE' }
      : { type: 'DAILY_RATE', ratePerDay: requiredNumeric(row.rate_per_day, 'rate_per_day', row.code), capRatio: requiredNumeric(row.cap_ratio, 'cap_ratio', row.code) };
  return {
    itemCode: row.code,
    name: row.name,
    incomeSortCode: row.income_sort_code,
    budgetLevel: row.budget_level,
    sharingRuleCode: row.sharing_rule_code,
    receivingAccountNo: row.receiving_account_no,
    pricing,
    lateFee,
    status: row.status,
    version: row.version,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function itemColumns(item: Pick<Item, 'name' | 'incomeSortCode' | 'budgetLevel' | 'sharingRuleCode' | 'receivingAccountNo' | 'pricing' | 'lateFee' | 'status'>): repo.ItemContentColumns {
  return {
    name: item.name,
    income_sort_code: item.incomeSortCode,
    budget_level: item.budgetLevel,
    sharing_rule_code: item.sharingRuleCode,
    receiving_account_no: item.receivingAccountNo,
    pricing_type: item.pricing.type,
    fixed_amount: item.pricing.type === 'FIXED' ? formatMoney(item.pricing.amount) : null,
    min_amount: item.pricing.type === 'RANGE' ? formatMoney(item.pricing.min) : null,
    max_amount: item.pricing.type === 'RANGE' ? formatMoney(item.pricing.max) : null,
    late_fee_type: item.lateFee.type,
    rate_per_day: item.lateFee.type === 'DAILY_RATE' ? formatRate(new Decimal(item.lateFee.ratePerDay)) : null,
    cap_ratio: item.lateFee.type === 'DAILY_RATE' ? formatRate(new Decimal(item.lateFee.capRatio)) : null,
    status: item.status,
  };
}

// ---- reads other use cases share (run inside their transactions) -----------------------------

/** The items with these codes that exist, by code: notices snapshot them when issued. */
export async function findItems(db: Queryable, itemCodes: readonly string[]): Promise<Map<string, Item>> {
  const rows = await repo.findItemsByCodes(db, [...new Set(itemCodes)]);
  return new Map(rows.map((row) => [row.code, toItem(row)]));
}

/** The sharing rules with these codes that exist, by code: notices snapshot a level-0 item's rule. */
export async function findSharingRules(db: Queryable, ruleCodes: readonly string[]): Promise<Map<string, SharingRule>> {
  const rows = await repo.findSharingRulesByCodes(db, [...new Set(ruleCodes)]);
  const shares = await repo.listShares(
    db,
    rows.map((row) => row.id),
  );
  return new Map(rows.map((row) => [row.code, toSharingRule(row, shares)]));
}

/** The account with this number, or undefined. */
export async function findAccount(db: Queryable, accountNo: string): Promise<Account | undefined> {
  const row = await repo.findAccount(db, accountNo);
  return row ? toAccount(row) : undefined;
}

/** Of `itemCodes`, those the unit (by its party id) may not charge, in the given order. */
export async function unauthorizedItemCodes(db: Queryable, unitPartyId: string, itemCodes: readonly string[]): Promise<string[]> {
  return repo.unauthorizedItemCodes(db, unitPartyId, itemCodes);
}

// ---- the service -------------------------------------------------------------------------------

/**
 * Locks the row the PUT addresses, or inserts it when there is none. Two concurrent creators of
 * one code serialise on its unique key: the loser's insert does nothing, and it then locks and
 * updates the winner's row, so the second PUT answers 200 as if it had come later.
 */
async function upsertRow<Row>(ops: { lock(): Promise<Row | undefined>; insert(): Promise<Row | undefined>; update(existing: Row): Promise<Row> }): Promise<{ row: Row; created: boolean; previous: Row | undefined }> {
  let existing = await ops.lock();
  if (existing === undefined) {
    const inserted = await ops.insert();
    if (inserted !== undefined) return { row: inserted, created: true, previous: undefined };
    existing = await ops.lock();
    assert(existing !== undefined, 'a row whose insert conflicted must exist');
  }
  return { row: await ops.update(existing), created: false, previous: existing };
}

/**
 * Records a catalogue change in the audit log when there is one: a creation (no `before`), or a
 * `before` whose content differs from `after`. The same content again records nothing.
 */
async function auditChange(trx: Knex.Transaction, change: { actor: string; action: AuditAction; target: string; before: AuditSnapshot | null; after: AuditSnapshot; at: Date }): Promise<void> {
  if (change.before !== null && canonicalJson(change.before) === canonicalJson(change.after)) return;
  await recordAudit(trx, change);
}

// ---- what the audit log records of each resource: its content, without timestamps -------------

function regionSnapshot(row: RegionRow): AuditSnapshot {
  return { regionCode: row.code, name: row.name, parentCode: row.parent_code };
}

function accountSnapshot(row: AccountRow): AuditSnapshot {
  return { accountNo: row.account_no, name: row.name, bankCode: row.bank_code, kind: row.kind };
}

function sharingRuleSnapshot(rule: SharingRule): AuditSnapshot {
  return { ruleCode: rule.ruleCode, name: rule.name, shares: rule.shares.map((share) => ({ budgetLevel: share.budgetLevel, ratio: formatRate(share.ratio) })) };
}

function itemSnapshot(item: Item): AuditSnapshot {
  return { itemCode: item.itemCode, version: item.version, ...itemContent(item) };
}

export class CatalogueService {
  constructor(private readonly deps: CatalogueDependencies) {}

  private now(): Date {
    return this.deps.clocks.business.now();
  }

  // ---- regions ----

  /** `PUT /v1/finance/regions/{regionCode}`. UNKNOWN_REFERENCE: parentCode; VALIDATION_FAILED: its own parent, a cycle, too deep. */
  async putRegion(regionCode: string, input: PutRegionInput, actor: string): Promise<Upserted<Region>> {
    if (input.parentCode === regionCode) throw validationFailed([{ path: '/parentCode', problem: 'a region cannot be its own parent' }]);
    const now = this.now();
    const result = await this.deps.db.transaction(async (trx) => {
      await repo.lockRegionHierarchy(trx);
      const parentCode = input.parentCode ?? null;
      if (parentCode !== null) await this.checkParent(trx, regionCode, parentCode);
      const upserted = await upsertRow<RegionRow>({
        lock: () => repo.findRegion(trx, regionCode, { lock: 'update' }),
        insert: () => repo.insertRegion(trx, { code: regionCode, name: input.name, parent_code: parentCode, created_at: now, updated_at: now }),
        update: async (existing) => {
          if (existing.name === input.name && existing.parent_code === parentCode) return existing;
          return repo.updateRegion(trx, existing.id, { name: input.name, parent_code: parentCode, updated_at: now });
        },
      });
      const before = upserted.previous === undefined ? null : regionSnapshot(upserted.previous);
      await auditChange(trx, { actor, action: 'region.saved', target: `region:${regionCode}`, before, after: regionSnapshot(upserted.row), at: now });
      return upserted;
    });
    return { resource: toRegion(result.row), created: result.created };
  }

  /** The parent must exist, and walking up from it must neither reach the region nor go on forever. */
  private async checkParent(trx: Knex.Transaction, regionCode: string, parentCode: string): Promise<void> {
    let ancestor = await repo.findRegion(trx, parentCode);
    if (!ancestor) throw unknownReferences([{ path: '/parentCode', problem: `no region ${parentCode} is registered` }]);
    for (let depth = 1; ; depth += 1) {
      if (ancestor.code === regionCode) {
        throw validationFailed([{ path: '/parentCode', problem: `region ${parentCode} lies below ${regionCode}: the hierarchy would have a cycle` }]);
      }
      if (depth >= REGION_DEPTH_MAX) {
        throw validationFailed([{ path: '/parentCode', problem: `the region hierarchy may be at most ${REGION_DEPTH_MAX} levels deep` }]);
      }
      if (ancestor.parent_code === null) return;
      const next = await repo.findRegion(trx, ancestor.parent_code);
      assert(next !== undefined, `region ${ancestor.parent_code} exists (a foreign key says so)`);
      ancestor = next;
    }
  }

  async getRegion(regionCode: string): Promise<Region> {
    const row = await repo.findRegion(this.deps.db, regionCode);
    if (!row) throw notFound('region', 'regionCode', regionCode);
    return toRegion(row);
  }

  async listRegions(page: PageRequest): Promise<ListPage<Region>> {
    const result = await repo.listRegions(this.deps.db, page);
    return { data: result.rows.map(toRegion), nextCursor: result.nextCursor };
  }

  // ---- accounts ----

  /**
   * `PUT /v1/finance/accounts/{accountNo}`. UNKNOWN_REFERENCE: bankCode (no bank party with that
   * code). VALIDATION_FAILED: a kind change the account's users forbid — items receive only into
   * FISCAL or TREASURY accounts, agencies collect only into CLEARING accounts.
   */
  async putAccount(accountNo: string, input: PutAccountInput, actor: string): Promise<Upserted<Account>> {
    const now = this.now();
    const result = await this.deps.db.transaction(async (trx) => {
      const bank = await findPartyByRoleCode(trx, 'bank', input.bankCode);
      if (!bank) throw unknownReferences([{ path: '/bankCode', problem: `no bank party with code ${input.bankCode} is registered` }]);
      const upserted = await upsertRow<AccountRow>({
        lock: () => repo.findAccount(trx, accountNo, { lock: 'update' }),
        insert: () => repo.insertAccount(trx, { account_no: accountNo, name: input.name, bank_code: input.bankCode, kind: input.kind, created_at: now, updated_at: now }),
        update: async (existing) => {
          if (existing.name === input.name && existing.bank_code === input.bankCode && existing.kind === input.kind) return existing;
          if (existing.kind !== input.kind) await this.checkKindChange(trx, accountNo, input.kind);
          return repo.updateAccount(trx, existing.id, { name: input.name, bank_code: input.bankCode, kind: input.kind, updated_at: now });
        },
      });
      const before = upserted.previous === undefined ? null : accountSnapshot(upserted.previous);
      await auditChange(trx, { actor, action: 'account.saved', target: `account:${accountNo}`, before, after: accountSnapshot(upserted.row), at: now });
      return upserted;
    });
    return { resource: toAccount(result.row), created: result.created };
  }

  private async checkKindChange(trx: Knex.Transaction, accountNo: string, kind: AccountKind): Promise<void> {
    const problems: FieldProblem[] = [];
    if (!RECEIVING_ACCOUNT_KINDS.includes(kind)) {
      const items = await repo.itemCodesReceivingInto(trx, accountNo, REFERENCES_LISTED_MAX);
      if (items.length > 0) problems.push({ path: '/kind', problem: `account ${accountNo} is the receiving account of items ${items.join(', ')}; it must stay ${RECEIVING_ACCOUNT_KINDS.join(' or ')}` });
    }
    if (kind !== CLEARING_ACCOUNT_KIND) {
      const agencies = await repo.agencyCodesClearingInto(trx, accountNo, REFERENCES_LISTED_MAX);
      if (agencies.length > 0) problems.push({ path: '/kind', problem: `account ${accountNo} is the clearing account of agencies ${agencies.join(', ')}; it must stay ${CLEARING_ACCOUNT_KIND}` });
    }
    if (problems.length > 0) throw validationFailed(problems);
  }

  async getAccount(accountNo: string): Promise<Account> {
    const row = await repo.findAccount(this.deps.db, accountNo);
    if (!row) throw notFound('account', 'accountNo', accountNo);
    return toAccount(row);
  }

  async listAccounts(page: PageRequest): Promise<ListPage<Account>> {
    const result = await repo.listAccounts(this.deps.db, page);
    return { data: result.rows.map(toAccount), nextCursor: result.nextCursor };
  }

  // ---- sharing rules ----

  /** `PUT /v1/finance/sharing-rules/{ruleCode}`. VALIDATION_FAILED: levels repeated, ratios not summing to exactly 1. */
  async putSharingRule(ruleCode: string, input: PutSharingRuleInput, actor: string): Promise<Upserted<SharingRule>> {
    const { shares, problems } = parseShares(input.shares);
    if (problems.length > 0) throw validationFailed(problems);
    const storedShares = shares.map((share) => ({ budgetLevel: share.budgetLevel, ratio: formatRate(share.ratio) }));
    const now = this.now();
    return this.deps.db.transaction(async (trx) => {
      let unchanged = false;
      let previous: SharingRule | undefined;
      const { row, created } = await upsertRow<SharingRuleRow>({
        lock: () => repo.findSharingRule(trx, ruleCode, { lock: 'update' }),
        insert: () => repo.insertSharingRule(trx, { code: ruleCode, name: input.name, created_at: now, updated_at: now }),
        update: async (existing) => {
          const current = toSharingRule(existing, await repo.listShares(trx, [existing.id]));
          previous = current;
          unchanged = existing.name === input.name && sameShares(current.shares, shares);
          return unchanged ? existing : repo.updateSharingRule(trx, existing.id, { name: input.name, updated_at: now });
        },
      });
      if (!unchanged) await repo.replaceShares(trx, row.id, storedShares);
      const stored = await repo.listShares(trx, [row.id]);
      const resource = toSharingRule(row, stored);
      const before = previous === undefined ? null : sharingRuleSnapshot(previous);
      await auditChange(trx, { actor, action: 'sharing_rule.saved', target: `sharing_rule:${ruleCode}`, before, after: sharingRuleSnapshot(resource), at: now });
      return { resource, created };
    });
  }

  async getSharingRule(ruleCode: string): Promise<SharingRule> {
    const rule = (await findSharingRules(this.deps.db, [ruleCode])).get(ruleCode);
    if (!rule) throw notFound('sharing rule', 'ruleCode', ruleCode);
    return rule;
  }

  async listSharingRules(page: PageRequest): Promise<ListPage<SharingRule>> {
    const result = await repo.listSharingRules(this.deps.db, page);
    const shares = await repo.listShares(
      this.deps.db,
      result.rows.map((row) => row.id),
    );
    return { data: result.rows.map((row) => toSharingRule(row, shares)), nextCursor: result.nextCursor };
  }

  // ---- items ----

  /**
   * `PUT /v1/finance/items/{itemCode}`. AMOUNT_INVALID: a pricing amount. VALIDATION_FAILED:
   * sharingRuleCode given unless budgetLevel is 0 (or missing when it is), min above max, a rate
   * with too many decimals. UNKNOWN_REFERENCE: sharingRuleCode, receivingAccountNo (none, or not a
   * FISCAL or TREASURY account). A change of content makes a new version; the same content again
   * changes nothing.
   */
  async putItem(itemCode: string, input: PutItemInput, actor: string): Promise<Upserted<Item>> {
    const problems: FieldProblem[] = [];
    const pricing = parsePricing(input.pricing, problems);
    const lateFee = parseLateFee(input.lateFee, problems);
    if (!Number.isInteger(input.budgetLevel) || input.budgetLevel < BUDGET_LEVEL_MIN || input.budgetLevel > BUDGET_LEVEL_MAX) {
      problems.push({ path: '/budgetLevel', problem: `must be an integer ${BUDGET_LEVEL_MIN}–${BUDGET_LEVEL_MAX}` });
    } else if (input.budgetLevel === BUDGET_LEVEL_SHARED && input.sharingRuleCode === undefined) {
      problems.push({ path: '/sharingRuleCode', problem: 'is required when budgetLevel is 0 (revenue shared between levels)' });
    } else if (input.budgetLevel !== BUDGET_LEVEL_SHARED && input.sharingRuleCode !== undefined) {
      problems.push({ path: '/sharingRuleCode', problem: `is only for budgetLevel 0; budgetLevel ${input.budgetLevel} is not shared` });
    }
    if (problems.length > 0 || pricing === undefined || lateFee === undefined) throw validationFailed(problems);
    const content = { name: input.name, incomeSortCode: input.incomeSortCode, budgetLevel: input.budgetLevel, sharingRuleCode: input.sharingRuleCode ?? null, receivingAccountNo: input.receivingAccountNo, pricing, lateFee, status: input.status };
    const contentJson = itemContent(content);
    const now = this.now();

    const result = await this.deps.db.transaction(async (trx) => {
      const references: FieldProblem[] = [];
      if (content.sharingRuleCode !== null && !(await repo.findSharingRule(trx, content.sharingRuleCode))) {
        references.push({ path: '/sharingRuleCode', problem: `no sharing rule ${content.sharingRuleCode} is registered` });
      }
      // FOR SHARE: the account's kind cannot change until this transaction ends (see putAccount).
      const account = await repo.findAccount(trx, content.receivingAccountNo, { lock: 'share' });
      if (!account) {
        references.push({ path: '/receivingAccountNo', problem: `no account ${content.receivingAccountNo} is registered` });
      } else if (!RECEIVING_ACCOUNT_KINDS.includes(account.kind)) {
        references.push({ path: '/receivingAccountNo', problem: `account ${account.account_no} is a ${account.kind} account; an item's receiving account must be ${RECEIVING_ACCOUNT_KINDS.join(' or ')}` });
      }
      if (references.length > 0) throw unknownReferences(references);

      const upserted = await upsertRow<ItemRow>({
        lock: () => repo.findItem(trx, itemCode, { lock: 'update' }),
        insert: async () => {
          const inserted = await repo.insertItem(trx, { code: itemCode, ...itemColumns(content), version: 1, created_at: now, updated_at: now });
          if (inserted) await repo.insertItemVersion(trx, { item_id: inserted.id, version: 1, content: contentJson, recorded_at: now });
          return inserted;
        },
        update: async (existing) => {
          if (canonicalJson(itemContent(toItem(existing))) === canonicalJson(contentJson)) return existing;
          const version = existing.version + 1;
          const updated = await repo.updateItem(trx, existing.id, { ...itemColumns(content), version, updated_at: now });
          await repo.insertItemVersion(trx, { item_id: existing.id, version, content: contentJson, recorded_at: now });
          return updated;
        },
      });
      const before = upserted.previous === undefined ? null : itemSnapshot(toItem(upserted.previous));
      await auditChange(trx, { actor, action: 'item.saved', target: `item:${itemCode}`, before, after: itemSnapshot(toItem(upserted.row)), at: now });
      return upserted;
    });
    const item = toItem(result.row);
    this.deps.log.info({ itemCode, version: item.version, created: result.created }, 'item saved');
    return { resource: item, created: result.created };
  }

  async getItem(itemCode: string): Promise<Item> {
    const row = await repo.findItem(this.deps.db, itemCode);
    if (!row) throw notFound('item', 'itemCode', itemCode);
    return toItem(row);
  }

  async listItems(page: PageRequest): Promise<ListPage<Item>> {
    const result = await repo.listItems(this.deps.db, page);
    return { data: result.rows.map(toItem), nextCursor: result.nextCursor };
  }

  // ---- unit item authorisations ----

  /**
   * `PUT /v1/finance/units/{unitCode}/items`: the unit may charge exactly these items from now on.
   * NOT_FOUND: no unit with that code (the unit is the resource addressed). UNKNOWN_REFERENCE: an
   * item code. The set always exists (empty at first), so the answer is 200.
   */
  async putUnitItems(unitCode: string, input: PutUnitItemsInput, actor: string): Promise<UnitItems> {
    const codes = [...new Set(input.itemCodes)];
    if (codes.length !== input.itemCodes.length) throw validationFailed([{ path: '/itemCodes', problem: 'an item code is listed twice' }]);
    if (codes.length > UNIT_ITEMS_MAX) throw validationFailed([{ path: '/itemCodes', problem: `at most ${UNIT_ITEMS_MAX} item codes` }]);
    const now = this.now();
    const itemCodes = await this.deps.db.transaction(async (trx) => {
      // The row lock serialises two replacements of one unit's set, so the result is one or the other.
      const unit = await findPartyByRoleCode(trx, 'unit', unitCode, { lock: 'update' });
      if (!unit) throw notFound('unit', 'unitCode', unitCode);
      const found = new Set((await repo.findItemsByCodes(trx, codes)).map((row) => row.code));
      const unknown: FieldProblem[] = [];
      input.itemCodes.forEach((code, index) => {
        if (!found.has(code)) unknown.push({ path: `/itemCodes/${index}`, problem: `no item ${code} is registered` });
      });
      if (unknown.length > 0) throw unknownReferences(unknown);
      const before = await repo.listUnitItemCodes(trx, unit.id);
      await repo.replaceUnitItems(trx, unit.id, codes, now);
      const after = await repo.listUnitItemCodes(trx, unit.id);
      await auditChange(trx, { actor, action: 'unit_items.replaced', target: `unit:${unitCode}/items`, before: { unitCode, itemCodes: before }, after: { unitCode, itemCodes: after }, at: now });
      return after;
    });
    return { unitCode, itemCodes };
  }

  async getUnitItems(unitCode: string): Promise<UnitItems> {
    const unit = await findPartyByRoleCode(this.deps.db, 'unit', unitCode);
    if (!unit) throw notFound('unit', 'unitCode', unitCode);
    return { unitCode, itemCodes: await repo.listUnitItemCodes(this.deps.db, unit.id) };
  }
}
