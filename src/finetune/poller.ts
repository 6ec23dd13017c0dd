import { BackgroundLoop } from '../background/loop.ts';
import type { RunService } from './runs.ts';

/**
 * Advances active fine-tuning runs in the background: every `pollMs` it asks each run's backend
 * what changed (OpenAI job status and events, the local command's log and exit code). A local
 * training process that exits wakes it at once (`kick`).
 */
export class RunPoller {
  private readonly loop: BackgroundLoop;

  constructor(runs: RunService, opts: { pollMs: number; onError?: (err: Error) => void }) {
    this.loop = new BackgroundLoop(() => runs.refreshAll((err) => this.loop.fail(err)), opts);
  }

  get lastError(): Error | undefined {
    return this.loop.lastError;
  }

  async start(): Promise<void> {
    this.loop.start();
  }

  /** Polls now, or right after the round in progress. */
  kick(): void {
    this.loop.kick();
  }

  idle(): Promise<void> {
    return this.loop.idle();
  }

  /** Finishes the round in progress and stops. Training keeps going; a later poller picks it up. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
