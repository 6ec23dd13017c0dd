import type { Database } from '../db/database.ts';
import type { VectorIndex } from './vector-index.ts';

/**
 * Keeps loaded indexes fresh: wakes on NOTIFY from the outbox trigger, and polls as a fallback
 * (a NOTIFY can be lost when a connection drops). Changes are applied in memory within
 * milliseconds; indexes are saved to disk now and then and on stop.
 */
export class SyncWorker {
  private stopListening?: () => Promise<void>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  /** Errors are kept, not thrown: the worker must outlive a passing database hiccup. */
  lastError?: Error;

  constructor(
    private readonly db: Database,
    private readonly index: VectorIndex,
    private readonly opts: { pollMs?: number; onError?: (err: Error) => void } = {},
  ) {}

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopListening = await this.db.listen('exemplar_index', () => this.kick());
    const poll = () => {
      this.timer = setTimeout(() => {
        this.kick();
        poll();
      }, this.opts.pollMs ?? 1000);
      this.timer.unref();
    };
    poll();
    this.kick();
  }

  /** Runs a catch-up now, or right after the one in progress. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.index.catchUp();
        } catch (err) {
          this.lastError = err as Error;
          this.opts.onError?.(err as Error);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits until the current catch-up is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Finishes the batch in progress, saves the indexes, and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.stopListening?.();
    await this.idle();
    await this.index.saveAll();
  }
}
