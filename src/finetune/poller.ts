import type { RunService } from './runs.ts';

/**
 * Advances active fine-tuning runs in the background, like the index SyncWorker: every `pollMs` it
 * asks each run's backend what changed (OpenAI job status and events, the local command's log and
 * exit code). A local training process that exits wakes it at once. Errors are kept, not thrown.
 */
export class RunPoller {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  lastError?: Error;

  constructor(
    private readonly runs: RunService,
    private readonly opts: { pollMs: number; onError?: (err: Error) => void },
  ) {}

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const poll = () => {
      this.timer = setTimeout(() => {
        this.kick();
        poll();
      }, this.opts.pollMs);
      this.timer.unref();
    };
    poll();
    this.kick();
  }

  /** Polls now, or right after the round in progress. */
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
          await this.runs.refreshAll((err) => {
            this.lastError = err;
            this.opts.onError?.(err);
          });
        } catch (err) {
          this.lastError = err as Error;
          this.opts.onError?.(err as Error);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Finishes the round in progress and stops. Training keeps going; a later poller picks it up. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.idle();
  }
}
