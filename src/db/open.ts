import type { Config } from '../config/config.ts';
import type { Database } from './database.ts';
import { migrate } from './migrate.ts';

/** Opens the configured database (PGlite unless DATABASE_URL is set) and brings its schema up to date. */
export async function openDatabase(config: Config): Promise<Database> {
  // Only the driver in use is loaded: each costs tens of milliseconds at start.
  const db = config.databaseUrl
    ? await (await import('./postgres.ts')).openPostgres(config.databaseUrl, config.dbSchema, config.dbPoolSize)
    : await (await import('./pglite.ts')).openPglite(config.pgliteDir, config.pgliteSharedBuffers);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
