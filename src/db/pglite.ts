import fs from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import { ExemplarError } from '../errors.ts';
import { processAlive } from '../process-alive.ts';
import type { Database, Queryable, QueryResult } from './database.ts';

/** Another process has the embedded database open. */
export class DatabaseInUseError extends ExemplarError {
  readonly code = 'database_in_use';
  readonly status = 409;
}

/** The embedded default: real PostgreSQL 17 in WASM, with pgvector bundled, stored in a folder. */
export async function openPglite(dataDir: string, sharedBuffers?: string): Promise<Database> {
  const inMemory = dataDir === 'memory://' || dataDir === '';
  const postgresqlconf = sharedBuffers ? [`shared_buffers = ${sharedBuffers}`] : undefined;
  if (inMemory) return new PgliteDatabase(await PGlite.create({ extensions: { vector }, postgresqlconf }));
  fs.mkdirSync(dataDir, { recursive: true });
  const releaseLock = lockDataDir(dataDir);
  try {
    return new PgliteDatabase(await PGlite.create({ dataDir, extensions: { vector }, postgresqlconf }), releaseLock);
  } catch (err) {
    releaseLock();
    throw err;
  }
}

/**
 * PGlite is one process's database: two processes writing one folder would corrupt it. A lock
 * file with the owner's pid keeps a second process out (a lock whose process is gone is taken over).
 */
function lockDataDir(dataDir: string): () => void {
  const lock = path.join(dataDir, 'exemplar.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(lock, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) {
        throw new DatabaseInUseError(
          `the embedded database in ${dataDir} is in use by process ${owner} (exemplar serve?). ` +
            'Stop it, use its HTTP API or MCP endpoint instead, or put the data in a PostgreSQL server (DATABASE_URL).',
          { pid: owner },
        );
      }
      fs.rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  throw new DatabaseInUseError(`could not lock the embedded database in ${dataDir}`);
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

  constructor(
    private readonly pg: PGlite,
    private readonly releaseLock: () => void = () => {},
  ) {
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
    this.releaseLock();
  }
}
