import crypto from 'node:crypto';
import { Client } from 'pg';
import { createDb, Db } from '../../src/db/database';
import { ensureNonceSentinel } from '../../src/db/repositories/requestNonces';

export interface TestDatabase {
  db: Db;
  connectionString: string;
  name: string;
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TONGFU_TEST_ADMIN_URL;
  if (!url) throw new Error('the jest globalSetup did not run (TONGFU_TEST_ADMIN_URL unset)');
  return url;
}

/** A fresh, migrated database of its own for one test file, cloned from the run's template. */
export async function createTestDatabase(poolMax = 10): Promise<TestDatabase> {
  const template = process.env.TONGFU_TEST_TEMPLATE as string;
  const runPid = template.replace('tongfu_tpl_', '');
  const name = `tongfu_t${runPid}_${crypto.randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const connectionString = url.toString();
  const db = createDb({ connectionString, poolMax });
  // A clone may come without the UNLOGGED nonce table's rows: put its sentinel back (decision 0059).
  await ensureNonceSentinel(db, 300);
  return {
    db,
    connectionString,
    name,
    async drop() {
      await db.destroy();
      const cleanup = new Client({ connectionString: adminUrl() });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}
