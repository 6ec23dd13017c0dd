import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.ts';

// int8 (counts, audit ids) as numbers, to match PGlite. Exemplar's int8 values stay far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Any PostgreSQL reached through DATABASE_URL (Neon, RDS, local), with a connection pool. */
export async function openPostgres(url: string, schema: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: poolSize,
    // Every connection sees Exemplar's schema first, so the same unqualified SQL runs everywhere.
    options: `-c search_path=${schema},public`,
  });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new PostgresDatabase(pool, url, schema);
  await db.query('SELECT 1');
  if (schema !== 'public') await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  return db;
}

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
  };
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  private readonly queryable: Queryable;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly schema: string,
  ) {
    this.queryable = wrap(pool);
  }

  query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
    return this.queryable.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.queryable.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(wrap(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    // LISTEN needs a connection of its own that stays open; a pooled one would be recycled.
    const client = new pg.Client({ connectionString: this.url, options: `-c search_path=${this.schema},public` });
    client.on('error', () => {});
    await client.connect();
    client.on('notification', (msg) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    });
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    return async () => {
      await client.end().catch(() => {});
    };
  }

  async hasVectorExtension(): Promise<boolean> {
    const { rows } = await this.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'vector'",
    );
    return rows[0].n > 0;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
