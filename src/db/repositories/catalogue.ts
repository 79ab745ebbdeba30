import type { Knex } from 'knex';
import { fetchPage, Page, PageRequest } from '../pagination';
import type { Queryable } from '../database';

/**
 * The catalogue (migration 20261127000005): regions, accounts, sharing rules, items and unit
 * item authorisations. Numeric columns come back as the strings pg returns; the service turns
 * them into `Decimal`.
 */

export type AccountKind = 'FISCAL' | 'TREASURY' | 'CLEARING' | 'SUSPENSE';
export type ItemStatusName = 'ACTIVE' | 'INACTIVE';

export interface RegionRow {
  id: string;
  code: string;
  name: string;
  parent_code: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface AccountRow {
  id: string;
  account_no: string;
  name: string;
  bank_code: string;
  kind: AccountKind;
  created_at: Date;
  updated_at: Date;
}

export interface SharingRuleRow {
  id: string;
  code: string;
  name: string;
  created_at: Date;
  updated_at: Date;
}

export interface ShareRow {
  sharing_rule_id: string;
  position: number;
  budget_level: number;
  /** NUMERIC(9,4) as text, e.g. "0.5000". */
  ratio: string;
}

export interface ItemRow {
  id: string;
  code: string;
  name: string;
  income_sort_code: string;
  budget_level: number;
  sharing_rule_code: string | null;
  receiving_account_no: string;
  pricing_type: 'FIXED' | 'RANGE';
  fixed_amount: string | null;
  min_amount: string | null;
  max_amount: string | null;
  late_fee_type: 'NONE' | 'DAILY_RATE';
  rate_per_day: string | null;
  cap_ratio: string | null;
  status: ItemStatusName;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** An item's columns that a PUT sets (everything but identity, version and timestamps). */
export type ItemContentColumns = Omit<ItemRow, 'id' | 'code' | 'version' | 'created_at' | 'updated_at'>;

interface Lock {
  /** `update` locks the row for the rest of the transaction; `share` only keeps it from changing. */
  lock?: 'update' | 'share';
}

function locked(query: Knex.QueryBuilder, options: Lock): Knex.QueryBuilder {
  if (options.lock === 'update') return query.forUpdate();
  if (options.lock === 'share') return query.forShare();
  return query;
}

async function insertIfAbsent<Row>(db: Queryable, table: string, uniqueColumn: string, values: Record<string, unknown>): Promise<Row | undefined> {
  const rows = (await db(table).insert(values).onConflict(uniqueColumn).ignore().returning('*')) as Row[];
  return rows[0];
}

async function updateReturning<Row>(db: Queryable, table: string, id: string, values: Record<string, unknown>): Promise<Row> {
  const [row] = (await db(table).where({ id }).update(values).returning('*')) as Row[];
  if (!row) throw new Error(`${table} ${id} vanished inside its own transaction`);
  return row;
}

// ---- regions ---------------------------------------------------------------------------------

export async function findRegion(db: Queryable, code: string, options: Lock = {}): Promise<RegionRow | undefined> {
  return (await locked(db('regions').where({ code }).first(), options)) as RegionRow | undefined;
}

/** Inserts a region unless one with the code exists (then undefined: a concurrent PUT won). */
export async function insertRegion(db: Queryable, region: Omit<RegionRow, 'id'>): Promise<RegionRow | undefined> {
  return insertIfAbsent<RegionRow>(db, 'regions', 'code', region);
}

export async function updateRegion(db: Queryable, id: string, changes: Pick<RegionRow, 'name' | 'parent_code' | 'updated_at'>): Promise<RegionRow> {
  return updateReturning<RegionRow>(db, 'regions', id, changes);
}

export async function listRegions(db: Queryable, page: PageRequest): Promise<Page<RegionRow>> {
  return fetchPage<RegionRow & Record<string, unknown>>(db('regions').select('*'), 'id', page);
}

/**
 * Serialises every change to the region hierarchy, so two concurrent PUTs cannot each pass the
 * cycle check and together make a cycle. Region changes are rare; the lock costs nothing.
 */
export async function lockRegionHierarchy(trx: Knex.Transaction): Promise<void> {
  await trx.raw("SELECT pg_advisory_xact_lock(hashtext('tongfu.regions.hierarchy'))");
}

// ---- accounts --------------------------------------------------------------------------------

export async function findAccount(db: Queryable, accountNo: string, options: Lock = {}): Promise<AccountRow | undefined> {
  return (await locked(db('accounts').where({ account_no: accountNo }).first(), options)) as AccountRow | undefined;
}

export async function insertAccount(db: Queryable, account: Omit<AccountRow, 'id'>): Promise<AccountRow | undefined> {
  return insertIfAbsent<AccountRow>(db, 'accounts', 'account_no', account);
}

export async function updateAccount(db: Queryable, id: string, changes: Pick<AccountRow, 'name' | 'bank_code' | 'kind' | 'updated_at'>): Promise<AccountRow> {
  return updateReturning<AccountRow>(db, 'accounts', id, changes);
}

export async function listAccounts(db: Queryable, page: PageRequest): Promise<Page<AccountRow>> {
  return fetchPage<AccountRow & Record<string, unknown>>(db('accounts').select('*'), 'id', page);
}

/** Codes of up to `limit` items whose receiving account this is. */
export async function itemCodesReceivingInto(db: Queryable, accountNo: string, limit: number): Promise<string[]> {
  const rows = (await db('items').select('code').where({ receiving_account_no: accountNo }).orderBy('id').limit(limit)) as { code: string }[];
  return rows.map((row) => row.code);
}

/** Codes of up to `limit` agencies whose clearing account this is. */
export async function agencyCodesClearingInto(db: Queryable, accountNo: string, limit: number): Promise<string[]> {
  const rows = (await db('parties').select('code').where({ clearing_account_no: accountNo }).orderBy('id').limit(limit)) as { code: string }[];
  return rows.map((row) => row.code);
}

// ---- sharing rules ---------------------------------------------------------------------------

export async function findSharingRule(db: Queryable, code: string, options: Lock = {}): Promise<SharingRuleRow | undefined> {
  return (await locked(db('sharing_rules').where({ code }).first(), options)) as SharingRuleRow | undefined;
}

export async function insertSharingRule(db: Queryable, rule: Omit<SharingRuleRow, 'id'>): Promise<SharingRuleRow | undefined> {
  return insertIfAbsent<SharingRuleRow>(db, 'sharing_rules', 'code', rule);
}

export async function updateSharingRule(db: Queryable, id: string, changes: Pick<SharingRuleRow, 'name' | 'updated_at'>): Promise<SharingRuleRow> {
  return updateReturning<SharingRuleRow>(db, 'sharing_rules', id, changes);
}

/** Replaces a rule's shares with `shares`, kept in the given order. */
export async function replaceShares(db: Queryable, ruleId: string, shares: ReadonlyArray<{ budgetLevel: number; ratio: string }>): Promise<void> {
  await db('sharing_rule_shares').where({ sharing_rule_id: ruleId }).delete();
  if (shares.length === 0) return;
  await db('sharing_rule_shares').insert(shares.map((share, position) => ({ sharing_rule_id: ruleId, position, budget_level: share.budgetLevel, ratio: share.ratio })));
}

/** Shares of the given rules, each rule's in its order. */
export async function listShares(db: Queryable, ruleIds: readonly string[]): Promise<ShareRow[]> {
  if (ruleIds.length === 0) return [];
  return (await db('sharing_rule_shares').whereIn('sharing_rule_id', ruleIds).orderBy([{ column: 'sharing_rule_id' }, { column: 'position' }])) as ShareRow[];
}

export async function listSharingRules(db: Queryable, page: PageRequest): Promise<Page<SharingRuleRow>> {
  return fetchPage<SharingRuleRow & Record<string, unknown>>(db('sharing_rules').select('*'), 'id', page);
}

export async function findSharingRulesByCodes(db: Queryable, codes: readonly string[]): Promise<SharingRuleRow[]> {
  if (codes.length === 0) return [];
  return (await db('sharing_rules').whereIn('code', codes).orderBy('id')) as SharingRuleRow[];
}

// ---- items -----------------------------------------------------------------------------------

export async function findItem(db: Queryable, code: string, options: Lock = {}): Promise<ItemRow | undefined> {
  return (await locked(db('items').where({ code }).first(), options)) as ItemRow | undefined;
}

export async function insertItem(db: Queryable, item: Omit<ItemRow, 'id'>): Promise<ItemRow | undefined> {
  return insertIfAbsent<ItemRow>(db, 'items', 'code', item);
}

export async function updateItem(db: Queryable, id: string, changes: ItemContentColumns & Pick<ItemRow, 'version' | 'updated_at'>): Promise<ItemRow> {
  return updateReturning<ItemRow>(db, 'items', id, changes);
}

export async function listItems(db: Queryable, page: PageRequest): Promise<Page<ItemRow>> {
  return fetchPage<ItemRow & Record<string, unknown>>(db('items').select('*'), 'id', page);
}

/** The items with these codes (any that exist), in id order. */
export async function findItemsByCodes(db: Queryable, codes: readonly string[], options: Lock = {}): Promise<ItemRow[]> {
  if (codes.length === 0) return [];
  return (await locked(db('items').whereIn('code', codes).orderBy('id'), options)) as ItemRow[];
}

/** Appends one version to an item's history; versions are never changed afterwards. */
export async function insertItemVersion(db: Queryable, version: { item_id: string; version: number; content: unknown; recorded_at: Date }): Promise<void> {
  await db('item_versions').insert({ ...version, content: JSON.stringify(version.content) });
}

// ---- unit item authorisations ----------------------------------------------------------------

/** The item codes a unit may charge, in code order. */
export async function listUnitItemCodes(db: Queryable, unitPartyId: string): Promise<string[]> {
  const rows = (await db('unit_items').select('item_code').where({ unit_party_id: unitPartyId }).orderBy('item_code')) as { item_code: string }[];
  return rows.map((row) => row.item_code);
}

/**
 * Makes the unit's set exactly `itemCodes`: revokes the others and grants the new ones; a grant
 * kept keeps its original `granted_at`. The caller holds the unit's row lock.
 */
export async function replaceUnitItems(db: Queryable, unitPartyId: string, itemCodes: readonly string[], grantedAt: Date): Promise<void> {
  const revoke = db('unit_items').where({ unit_party_id: unitPartyId });
  if (itemCodes.length > 0) void revoke.whereNotIn('item_code', itemCodes);
  await revoke.delete();
  if (itemCodes.length === 0) return;
  await db('unit_items')
    .insert(itemCodes.map((itemCode) => ({ unit_party_id: unitPartyId, item_code: itemCode, granted_at: grantedAt })))
    .onConflict(['unit_party_id', 'item_code'])
    .ignore();
}

/** Of `itemCodes`, those the unit may not charge (ITEM_NOT_AUTHORIZED), in the given order. */
export async function unauthorizedItemCodes(db: Queryable, unitPartyId: string, itemCodes: readonly string[]): Promise<string[]> {
  if (itemCodes.length === 0) return [];
  const rows = (await db('unit_items').select('item_code').where({ unit_party_id: unitPartyId }).whereIn('item_code', itemCodes)) as { item_code: string }[];
  const granted = new Set(rows.map((row) => row.item_code));
  return itemCodes.filter((code) => !granted.has(code));
}
