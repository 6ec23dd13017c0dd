import { SqlBusyError } from './errors.ts';

export interface SqlConcurrency {
  /** run_sql queries running at once, over all callers. */
  overall: number;
  /** run_sql queries running at once for one API key (the CLI counts as one key). */
  perKey: number;
  /**
   * After a query, the next one waits as long as it ran (PGlite). A search needs several short
   * queries; without the pause, back-to-back gateway queries would each slip in between two of them.
   */
  pauseAfterQuery?: boolean;
}

/**
 * The defaults: on PostgreSQL, half the pool, so searches and writes always find a free connection
 * while gateway queries run; on PGlite, which runs one query at a time for the whole process, one.
 * One per key: two of one key's queries running at once would take two cores of a small server.
 */
export function defaultSqlConcurrency(kind: 'pglite' | 'postgres', poolSize: number): SqlConcurrency {
  return kind === 'pglite' ? { overall: 1, perKey: 1, pauseAfterQuery: true } : { overall: Math.max(1, Math.floor(poolSize / 2)), perKey: 1 };
}

/**
 * Counts the run_sql queries in flight and refuses one more beyond a limit at once (429) rather than
 * queueing it: a queue would hold the caller's connection and memory, and a client can retry.
 */
export class SqlLimiter {
  private running = 0;
  private readonly byKey = new Map<string, number>();
  /** performance.now() before which no query starts (pauseAfterQuery). */
  private restUntil = 0;

  constructor(private readonly limits: SqlConcurrency) {}

  /**
   * Takes a slot for `key`, or throws SqlBusyError at once; then waits out the pause after the last
   * query, if any. Call the returned function when the query is done.
   */
  async enter(key: string): Promise<() => void> {
    const release = this.acquire(key);
    const wait = this.restUntil - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const started = performance.now();
    return () => {
      if (this.limits.pauseAfterQuery) this.restUntil = performance.now() + (performance.now() - started);
      release();
    };
  }

  /** Takes a slot for `key`; call the returned function exactly once when the query is done. */
  acquire(key: string): () => void {
    const mine = this.byKey.get(key) ?? 0;
    if (mine >= this.limits.perKey) {
      throw new SqlBusyError(
        `this key already has ${mine} SQL ${mine === 1 ? 'query' : 'queries'} running, the most one key may run at once ` +
          `(EXEMPLAR_SQL_MAX_CONCURRENT_PER_KEY=${this.limits.perKey}); retry when one has finished`,
        { limit: this.limits.perKey, variable: 'EXEMPLAR_SQL_MAX_CONCURRENT_PER_KEY' },
      );
    }
    if (this.running >= this.limits.overall) {
      throw new SqlBusyError(
        `${this.running} SQL ${this.running === 1 ? 'query is' : 'queries are'} running, the most the server runs at once ` +
          `(EXEMPLAR_SQL_MAX_CONCURRENT=${this.limits.overall}); retry shortly`,
        { limit: this.limits.overall, variable: 'EXEMPLAR_SQL_MAX_CONCURRENT' },
      );
    }
    this.running++;
    this.byKey.set(key, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byKey.get(key) ?? 1) - 1;
      if (left > 0) this.byKey.set(key, left);
      else this.byKey.delete(key);
    };
  }
}
