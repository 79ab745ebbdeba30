import fs from 'node:fs';
import { Client } from 'pg';
import type { EmbeddedPostgres } from '../../src/db/embeddedPostgres';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env.TONGFU_TEST_ADMIN_URL;
  const template = process.env.TONGFU_TEST_TEMPLATE;
  const state = (globalThis as { __tongfuEmbedded?: { embedded: EmbeddedPostgres; dataDir: string } }).__tongfuEmbedded;
  if (state) {
    await state.embedded.stop();
    fs.rmSync(state.dataDir, { recursive: true, force: true });
    return;
  }
  if (adminUrl && template) {
    // A shared server: leave nothing behind but what other runs own.
    const admin = new Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE $1", [`tongfu_t${process.pid}_%`]);
      for (const row of rows) await admin.query(`DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
      await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}
