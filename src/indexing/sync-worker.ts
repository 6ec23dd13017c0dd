import { BackgroundLoop } from '../background/loop.ts';
import type { Database } from '../db/database.ts';
import { DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS, DEFAULT_FEED_RETENTION_HOURS } from '../config/config.ts';
import { ChangeFeed } from './feed.ts';
import type { FeedMembership, VectorIndex } from './vector-index.ts';

/** Heartbeats at least this often, so other replicas see this one as live and its lag as it is. */
const BEAT_EVERY_MS = 5000;
/** ...and at most this often, so a burst of NOTIFYs does not turn into a burst of writes. */
const BEAT_AT_MOST_EVERY_MS = 250;
/** How often a replica tries to prune the feed (one replica wins the advisory lock per tick). */
const PRUNE_EVERY_MS = 30_000;

/**
 * Keeps loaded indexes fresh: wakes on NOTIFY from the outbox trigger, and polls as a fallback
 * (a NOTIFY can be lost when a connection drops). Changes are applied in memory within
 * milliseconds; indexes are saved to disk now and then and on stop. On the memory backend the
 * worker is a registered consumer of the shared feed: it heartbeats its position and unregisters on
 * stop. Every worker, whatever its backend, takes its turn at pruning: otherwise a deployment whose
 * replicas all use pgvector would never prune the feed.
 */
export class SyncWorker {
  private readonly loop: BackgroundLoop;
  private stopListening?: () => Promise<void>;
  private membership?: FeedMembership;
  private beatAt = 0;
  private beatPosition = '';
  private prunedAt = 0;
  private readonly pruneEveryMs: number;
  private readonly feed: ChangeFeed;

  constructor(
    private readonly db: Database,
    private readonly index: VectorIndex,
    private readonly opts: { pollMs?: number; onError?: (err: Error) => void; role?: string; pruneEveryMs?: number; feed?: ChangeFeed } = {},
  ) {
    this.pruneEveryMs = opts.pruneEveryMs ?? PRUNE_EVERY_MS;
    this.feed =
      opts.feed ??
      ('feed' in index && index.feed instanceof ChangeFeed ? index.feed : undefined) ??
      new ChangeFeed(db, { retentionMs: DEFAULT_FEED_RETENTION_HOURS * 3_600_000, consumerTimeoutMs: DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS * 1000 });
    this.loop = new BackgroundLoop(() => this.round(), { pollMs: opts.pollMs ?? 1000, onError: opts.onError });
  }

  /** The last error a catch-up hit (kept, not thrown: the worker must outlive a database hiccup). */
  get lastError(): Error | undefined {
    return this.loop.lastError;
  }

  /** This process's id in index_consumers, while it is registered. */
  get consumerId(): string | undefined {
    return this.membership?.id;
  }

  async start(): Promise<void> {
    if (this.loop.active) return;
    this.membership = await this.index.joinFeed?.(this.opts.role ?? 'worker');
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

  /** Finishes the batch in progress, saves the indexes, unregisters, and stops. */
  async stop(): Promise<void> {
    if (!this.loop.active) return;
    await this.stopListening?.();
    await this.loop.stop();
    await this.index.saveAll();
    await this.membership?.leave().catch((err: Error) => this.opts.onError?.(err));
    this.membership = undefined;
  }

  private async round(): Promise<void> {
    await this.index.catchUp();
    const now = Date.now();
    if (this.membership) {
      const at = this.membership.at();
      const moved = at !== this.beatPosition;
      if ((moved && now - this.beatAt >= BEAT_AT_MOST_EVERY_MS) || now - this.beatAt >= BEAT_EVERY_MS) {
        this.beatAt = now;
        this.beatPosition = at;
        await this.membership.beat();
      }
    }
    if (now - this.prunedAt >= this.pruneEveryMs) {
      this.prunedAt = now;
      await this.feed.prune();
    }
  }
}
