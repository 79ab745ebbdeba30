import crypto from 'node:crypto';
import type { Knex } from 'knex';
import type { ClientBase } from 'pg';
import { assert } from '../domain/errors';
import type { Db } from './database';

/**
 * Statements for the hot paths: written once with named parameters (`@name`), compiled into
 * PostgreSQL's `$n` for named prepared statements on a raw `pg` connection (the server parses and
 * plans each once per connection, and knex's query building is skipped) and into knex's `?` for
 * use inside a knex transaction.
 */

export interface CompiledStatement {
  /** Prepared-statement name: unique per text, so a connection never confuses two versions. */
  name: string;
  /** `$1 … $n`, for a raw pg connection. */
  pgText: string;
  /** `?` placeholders, for knex.raw. */
  knexText: string;
  /** The parameter names in `?` order (a name used twice appears twice); `$n` numbers them by first use. */
  parameters: string[];
}

const PARAMETER_PATTERN = /@([a-z][a-z0-9_]*)/g;

export function compileStatement(label: string, text: string): CompiledStatement {
  const numbered = new Map<string, number>();
  const pgText = text.replace(PARAMETER_PATTERN, (_match, name: string) => {
    let index = numbered.get(name);
    if (index === undefined) {
      index = numbered.size + 1;
      numbered.set(name, index);
    }
    return `$${index}`;
  });
  const knexParameters: string[] = [];
  const knexText = text.replace(PARAMETER_PATTERN, (_match, name: string) => {
    knexParameters.push(name);
    return '?';
  });
  assert(!/\?\?/.test(text), `statement ${label} has no knex identifier bindings`);
  const digest = crypto.createHash('sha256').update(pgText).digest('hex').slice(0, 10);
  return { name: `tf_${label}_${digest}`, pgText, knexText, parameters: knexParameters };
}

/** Values in `$n` order for pg (each name once), and in `?` order for knex (each occurrence). */
function pgValues(statement: CompiledStatement, values: Record<string, unknown>): unknown[] {
  const seen = new Set<string>();
  const ordered: unknown[] = [];
  for (const name of statement.parameters) {
    if (seen.has(name)) continue;
    seen.add(name);
    assert(name in values, `statement ${statement.name} is given @${name}`);
    ordered.push(values[name]);
  }
  return ordered;
}

function knexValues(statement: CompiledStatement, values: Record<string, unknown>): unknown[] {
  return statement.parameters.map((name) => {
    assert(name in values, `statement ${statement.name} is given @${name}`);
    return values[name];
  });
}

/** Runs compiled statements on one connection: a raw pg client, or a knex transaction. */
export interface StatementRunner {
  run<Row>(statement: CompiledStatement, values: Record<string, unknown>): Promise<Row[]>;
}

/** Named prepared statements on a raw pg connection: parsed and planned once per connection. */
export function pgRunner(client: ClientBase): StatementRunner {
  return {
    async run<Row>(statement: CompiledStatement, values: Record<string, unknown>): Promise<Row[]> {
      const result = await client.query({ name: statement.name, text: statement.pgText, values: pgValues(statement, values) });
      return result.rows as Row[];
    },
  };
}

export function knexRunner(trx: Knex.Transaction): StatementRunner {
  return {
    async run<Row>(statement: CompiledStatement, values: Record<string, unknown>): Promise<Row[]> {
      const result = await trx.raw<{ rows: Row[] }>(statement.knexText, knexValues(statement, values) as Knex.RawBinding[]);
      return result.rows;
    },
  };
}

/**
 * Runs `work` on a raw pg connection borrowed from knex's pool, and gives it back. knex's pg
 * connections are `pg.Client`s; a connection that fails is marked by knex's own error listener
 * and discarded by the pool when it is next validated.
 */
export async function withPooledClient<T>(db: Db, work: (client: ClientBase) => Promise<T>): Promise<T> {
  const pool = db.client as { acquireConnection(): Promise<ClientBase>; releaseConnection(connection: ClientBase): Promise<void> };
  const client = await pool.acquireConnection();
  try {
    return await work(client);
  } finally {
    await pool.releaseConnection(client);
  }
}
