import path from 'node:path';
import type { Config } from '../config';
import type { Logger } from '../logger';
import { createDb, Db } from './database';
import { EmbeddedPostgres } from './embeddedPostgres';

export interface OpenedDatabase {
  db: Db;
  connectionString: string;
  /** Set when this process runs (or adopted) the embedded server. */
  embedded: EmbeddedPostgres | undefined;
  close(): Promise<void>;
}

/**
 * The database the configuration names: `DATABASE_URL`, or the embedded server in
 * `{TONGFU_DATA_DIR}/pg`. The CLI shares a server the running service started, and starts one
 * for itself when none runs.
 */
export async function openDatabase(config: Config, log: Logger, purpose: 'service' | 'cli', poolMax?: number): Promise<OpenedDatabase> {
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.databaseUrl;
  if (connectionString === undefined) {
    embedded = new EmbeddedPostgres({ dataDir: path.resolve(config.dataDir), log, durable: true, reuseLiveServer: true });
    connectionString = await embedded.start();
  }
  const db = createDb({ connectionString, poolMax, applicationName: `tongfu-${purpose}`, log });
  return {
    db,
    connectionString,
    embedded,
    async close() {
      await db.destroy();
      if (embedded) await embedded.stop();
    },
  };
}
