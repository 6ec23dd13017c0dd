import type { Config } from '../config/config.ts';
import type { Database } from './database.ts';
import { migrate } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';

/** Opens the configured database (PGlite unless DATABASE_URL is set) and brings its schema up to date. */
export async function openDatabase(config: Config): Promise<Database> {
  const db = config.databaseUrl
    ? await openPostgres(config.databaseUrl, config.dbSchema, config.dbPoolSize)
    : await openPglite(config.pgliteDir);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
