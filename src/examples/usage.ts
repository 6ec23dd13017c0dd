import type { Database } from '../db/database.ts';

/**
 * When examples were last used (example_usage): returned by a search, or put in a built dataset.
 * Search results are noted in memory and written in one statement every `delayMs` (or when many
 * are waiting), off the request path: a search never waits for it, and a burst of searches costs
 * one write. A process that stops writes what is waiting (close). Losing a few notes in a crash
 * only makes "never used" a little pessimistic.
 */
export class UsageRecorder {
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly delayMs = 2000,
    private readonly maxPending = 5000,
  ) {}

  /** Notes the ids a search returned. Cheap and synchronous. */
  noteSearch(ids: Iterable<string>): void {
    if (this.closed) return;
    for (const id of ids) this.pending.add(id);
    if (this.pending.size === 0) return;
    if (this.pending.size >= this.maxPending) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.delayMs).unref();
  }

  /** Writes the noted search uses now (the timer does it on its own). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.size === 0) return this.flushing;
    // Sorted: concurrent writers (replicas) lock rows in the same order, so they cannot deadlock.
    const ids = [...this.pending].sort();
    this.pending = new Set();
    this.flushing = this.flushing.then(() =>
      this.db
        .query(
          `INSERT INTO example_usage (example_id, agent_id, last_searched_at)
           SELECT id, agent_id, now() FROM training_examples WHERE id = ANY($1::uuid[]) ORDER BY id
           ON CONFLICT (example_id) DO UPDATE SET last_searched_at = excluded.last_searched_at`,
          [ids],
        )
        .then(
          () => {},
          (err) => console.error(`exemplar: could not record the use of ${ids.length} examples: ${(err as Error).message}`),
        ),
    );
    return this.flushing;
  }

  /** Records that these examples went into a built dataset (one statement, at once). */
  async noteDataset(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(
      `INSERT INTO example_usage (example_id, agent_id, last_dataset_at)
       SELECT id, agent_id, now() FROM training_examples WHERE id = ANY($1::uuid[]) ORDER BY id
       ON CONFLICT (example_id) DO UPDATE SET last_dataset_at = excluded.last_dataset_at`,
      [[...new Set(ids)].sort()],
    );
  }

  /** Writes what is waiting and stops taking notes; call before the database closes. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
