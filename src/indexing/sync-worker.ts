import { BackgroundLoop } from '../background/loop.ts';
import type { Database } from '../db/database.ts';
import type { VectorIndex } from './vector-index.ts';

/**
 * Keeps loaded indexes fresh: wakes on NOTIFY from the outbox trigger, and polls as a fallback
 * (a NOTIFY can be lost when a connection drops). Changes are applied in memory within
 * milliseconds; indexes are saved to disk now and then and on stop.
 */
export class SyncWorker {
  private readonly loop: BackgroundLoop;
  private stopListening?: () => Promise<void>;

  constructor(
    private readonly db: Database,
    private readonly index: VectorIndex,
    opts: { pollMs?: number; onError?: (err: Error) => void } = {},
  ) {
    this.loop = new BackgroundLoop(async () => void (await index.catchUp()), { pollMs: opts.pollMs ?? 1000, onError: opts.onError });
  }

  /** The last error a catch-up hit (kept, not thrown: the worker must outlive a database hiccup). */
  get lastError(): Error | undefined {
    return this.loop.lastError;
  }

  async start(): Promise<void> {
    if (this.loop.active) return;
    this.stopListening = await this.db.listen('exemplar_index', () => this.loop.kick());
    this.loop.start();
  }

  /** Runs a catch-up now, or right after the one in progress. */
  kick(): void {
    this.loop.kick();
  }

  /** Waits until the current catch-up is done. */
  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** Finishes the batch in progress, saves the indexes, and stops. */
  async stop(): Promise<void> {
    if (!this.loop.active) return;
    await this.stopListening?.();
    await this.loop.stop();
    await this.index.saveAll();
  }
}
