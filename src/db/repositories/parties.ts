import type { Knex } from 'knex';
import type { PartyRole } from '../../domain/access';
import type { Queryable } from '../database';
import { fetchPage, Page, PageRequest } from '../pagination';

/**
 * Parties and their public keys (migrations 20261127000003, …0006). Every function takes the
 * connection or transaction to run on, so a use case keeps all its reads and writes in one
 * transaction.
 */
export type PartyStatus = 'ACTIVE' | 'DISABLED';
export type PartyKeyStatus = 'ACTIVE' | 'RETIRED';

export interface PartyRow {
  /** bigserial, as the string pg returns. */
  id: string;
  app_id: string;
  role: PartyRole;
  code: string;
  name: string;
  status: PartyStatus;
  region_code: string | null;
  callback_url: string | null;
  clearing_account_no: string | null;
  cutoff_time: string | null;
  /** Agencies offering online payment on the portal (migration 20261201000600): all three or none. */
  online_payment_display_name: string | null;
  online_payment_logo_text: string | null;
  online_payment_checkout_url_template: string | null;
  request_hash: string;
  created_at: Date;
  updated_at: Date;
}

export interface PartyKeyRow {
  id: string;
  party_id: string;
  key_id: string;
  algorithm: 'SM2' | 'RSA';
  public_key_pem: string;
  status: PartyKeyStatus;
  created_at: Date;
  retired_at: Date | null;
}

export type NewParty = Omit<PartyRow, 'id' | 'status' | 'online_payment_display_name' | 'online_payment_logo_text' | 'online_payment_checkout_url_template'> &
  Partial<Pick<PartyRow, 'online_payment_display_name' | 'online_payment_logo_text' | 'online_payment_checkout_url_template'>>;

/** The columns of a party's online payment (null: it offers none). */
export type OnlinePaymentColumns = Pick<PartyRow, 'online_payment_display_name' | 'online_payment_logo_text' | 'online_payment_checkout_url_template'>;
export type NewPartyKey = Omit<PartyKeyRow, 'id' | 'status' | 'retired_at'>;

/** The name PostgreSQL gives the UNIQUE (role, code) constraint of migration …0003. */
export const PARTY_ROLE_CODE_CONSTRAINT = 'parties_role_code_key';
/** A key id (and so a public key) is held by one party at most (migration 20261128000060). */
export const PARTY_KEY_OWNER_CONSTRAINT = 'party_keys_one_owner';

interface Lock {
  /** `update` locks the party row for the rest of the transaction (SELECT … FOR UPDATE). */
  lock?: 'update';
}

function lockIfAsked(query: Knex.QueryBuilder, options: Lock): Knex.QueryBuilder {
  return options.lock === 'update' ? query.forUpdate() : query;
}

export async function findPartyByAppId(db: Queryable, appId: string, options: Lock = {}): Promise<PartyRow | undefined> {
  return (await lockIfAsked(db('parties').where({ app_id: appId }).first(), options)) as PartyRow | undefined;
}

export async function findPartyByRoleCode(db: Queryable, role: PartyRole, code: string, options: Lock = {}): Promise<PartyRow | undefined> {
  return (await lockIfAsked(db('parties').where({ role, code }).first(), options)) as PartyRow | undefined;
}

export async function findPartyById(db: Queryable, id: string): Promise<PartyRow | undefined> {
  return (await db('parties').where({ id }).first()) as PartyRow | undefined;
}

/** Inserts a party; a second party with the same (role, code) raises the unique violation 23505. */
export async function insertParty(db: Queryable, party: NewParty): Promise<PartyRow> {
  const [row] = (await db('parties').insert(party).returning('*')) as PartyRow[];
  if (!row) throw new Error('INSERT … RETURNING gave no row');
  return row;
}

export async function updateParty(db: Queryable, id: string, changes: Partial<Pick<PartyRow, 'status' | 'callback_url'> & OnlinePaymentColumns> & { updated_at: Date }): Promise<PartyRow> {
  const [row] = (await db('parties').where({ id }).update(changes).returning('*')) as PartyRow[];
  if (!row) throw new Error(`party ${id} vanished inside its own transaction`);
  return row;
}

export async function listParties(db: Queryable, filter: { role?: PartyRole }, page: PageRequest): Promise<Page<PartyRow>> {
  const query = db('parties').select('*');
  if (filter.role !== undefined) void query.where({ role: filter.role });
  return fetchPage<PartyRow & Record<string, unknown>>(query, 'id', page);
}

/** Active agencies offering online payment, in registration order (the portal's list; a handful). */
export async function listOnlinePaymentAgencies(db: Queryable, limit: number): Promise<PartyRow[]> {
  return (await db('parties').where({ role: 'agency', status: 'ACTIVE' }).whereNotNull('online_payment_checkout_url_template').orderBy('id').limit(limit)) as PartyRow[];
}

/**
 * Locks every active finance party, so that two finance parties disabling each other at the same
 * time cannot both succeed and leave no one to administer the platform.
 */
export async function lockActiveFinanceParties(db: Queryable): Promise<PartyRow[]> {
  return (await db('parties').where({ role: 'finance', status: 'ACTIVE' }).orderBy('id').forUpdate()) as PartyRow[];
}

/** Keys of the given parties, oldest first. */
export async function listKeys(db: Queryable, partyIds: readonly string[]): Promise<PartyKeyRow[]> {
  if (partyIds.length === 0) return [];
  return (await db('party_keys').whereIn('party_id', partyIds).orderBy('id')) as PartyKeyRow[];
}

export async function findKey(db: Queryable, partyId: string, keyId: string): Promise<PartyKeyRow | undefined> {
  return (await db('party_keys').where({ party_id: partyId, key_id: keyId }).first()) as PartyKeyRow | undefined;
}

/** The key with this id, whichever party holds it. */
export async function findKeyById(db: Queryable, keyId: string): Promise<PartyKeyRow | undefined> {
  return (await db('party_keys').where({ key_id: keyId }).first()) as PartyKeyRow | undefined;
}

export async function insertKey(db: Queryable, key: NewPartyKey): Promise<PartyKeyRow> {
  const [row] = (await db('party_keys').insert(key).returning('*')) as PartyKeyRow[];
  if (!row) throw new Error('INSERT … RETURNING gave no row');
  return row;
}

export async function retireKey(db: Queryable, id: string, retiredAt: Date): Promise<PartyKeyRow> {
  const [row] = (await db('party_keys').where({ id }).update({ status: 'RETIRED', retired_at: retiredAt }).returning('*')) as PartyKeyRow[];
  if (!row) throw new Error(`party key ${id} vanished inside its own transaction`);
  return row;
}

export async function countActiveKeys(db: Queryable, partyId: string): Promise<number> {
  const row = (await db('party_keys').where({ party_id: partyId, status: 'ACTIVE' }).count<{ count: string }[]>({ count: '*' }).first()) as { count: string } | undefined;
  return Number(row?.count ?? 0);
}
