import type { Knex } from 'knex';
export interface BackfillContext { agencyPartyId: string; agencyCode: string; businessDate: string /*YYYY-MM-DD*/; statementRowId: string /* agency_statements.id */; runRowId: string /* reconciliation_runs.id */; now: Date }
export interface BackfillResult { count: number; amount: string /* decimal */ }
export type BackfillOverages = (trx: Knex.Transaction, ctx: BackfillContext) => Promise<BackfillResult>;
