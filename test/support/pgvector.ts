import pg from 'pg';
import { TEST_DATABASE_URL, TEST_DB } from './app.ts';

/**
 * Whether the database under test can hold vectors: PGlite bundles pgvector; the local server has
 * it once ../shared/tools/install-pgvector.sh ran (.ci/run does). Tests of the pgvector backend
 * run where it is, and tests of its absence where it is not, so the suite is right both ways.
 */
export async function databaseHasPgvector(): Promise<boolean> {
  if (TEST_DB === 'pglite') return true;
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'");
    return rows.length > 0;
  } finally {
    await client.end();
  }
}
