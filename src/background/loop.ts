/**
 * A unit of background work run now and then: on a timer, and whenever `kick()` says there is
 * something to do. Rounds never overlap; a kick during a round runs one more round right after.
 * Errors are kept in `lastError` (and passed to `onError`), never thrown: the loop must outlive a
 * passing database or network hiccup. Used by the index sync worker and the fine-tuning run poller.
 */
export class BackgroundLoop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;
  lastError?: Error;

  constructor(
    private readonly work: () => Promise<void>,
    private readonly opts: { pollMs: number; onError?: (err: Error) => void },
  ) {}

  get active(): boolean {
    return !this.stopped;
  }

  start(): void {
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

  /** Runs a round now, or right after the one in progress. */
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
          await this.work();
        } catch (err) {
          this.fail(err as Error);
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Records an error of the work without stopping (for work that handles items one by one). */
  fail(err: Error): void {
    this.lastError = err;
    this.opts.onError?.(err);
  }

  /** Waits until the round in progress is done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Finishes the round in progress and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    await this.idle();
  }
}
