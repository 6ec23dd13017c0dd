import fs from 'node:fs';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import type { Database, Queryable, QueryResult } from './database.ts';

/** The embedded default: real PostgreSQL 17 in WASM, with pgvector bundled, stored in a folder. */
export async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir === 'memory://' || dataDir === '';
  if (!inMemory) fs.mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create({ dataDir: inMemory ? undefined : dataDir, extensions: { vector } });
  return new PgliteDatabase(pg);
}

function wrap(q: PGlite | Transaction): Queryable {
  return {
    async query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      const result = await q.query<T>(sql, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
    },
    async exec(sql: string): Promise<void> {
      await q.exec(sql);
    },
  };
}

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  private readonly queryable: Queryable;

  constructor(private readonly pg: PGlite) {
    this.queryable = wrap(pg);
  }

  query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
    return this.queryable.query<T>(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.queryable.exec(sql);
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.pg.transaction((tx) => fn(wrap(tx)));
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const unlisten = await this.pg.listen(channel, onNotify);
    return () => unlisten();
  }

  async hasVectorExtension(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    if (!this.pg.closed) await this.pg.close();
  }
}
