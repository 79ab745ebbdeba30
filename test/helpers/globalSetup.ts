import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { createDb, migrateLatest } from '../../src/db/database';
import { EmbeddedPostgres } from '../../src/db/embeddedPostgres';

/**
 * One PostgreSQL for the whole run: the server `DATABASE_URL` names, or a real embedded server in
 * a temporary directory. Migrations are applied once to a template database; each test file
 * clones it (test/helpers/database.ts), so every file starts from an empty, migrated schema.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tongfu-test-pg-'));
    fs.chmodSync(dataDir, 0o755);
    const embedded = new EmbeddedPostgres({ dataDir, log: pino({ level: 'warn' }), durable: false, reuseLiveServer: false });
    await embedded.start();
    adminUrl = embedded.connectionString('postgres');
    (globalThis as { __tongfuEmbedded?: { embedded: EmbeddedPostgres; dataDir: string } }).__tongfuEmbedded = { embedded, dataDir };
  }
  const template = `tongfu_tpl_${process.pid}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    await admin.query(`CREATE DATABASE ${template}`);
  } finally {
    await admin.end();
  }
  const db = createDb({ connectionString: withDatabase(adminUrl, template), poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
  process.env.TONGFU_TEST_ADMIN_URL = adminUrl;
  process.env.TONGFU_TEST_TEMPLATE = template;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
