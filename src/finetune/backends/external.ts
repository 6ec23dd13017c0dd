import type { BackendUpdate, RunBackend } from '../types.ts';

/**
 * Another system trains: it registers the run (status pending) and reports progress with
 * `update_run` (status, result model, error, log lines). Exemplar never polls it.
 */
export class ExternalFineTuneBackend implements RunBackend {
  readonly name = 'external' as const;
  check(): void {}
  async start(): Promise<BackendUpdate> {
    return {};
  }
  async poll(): Promise<BackendUpdate> {
    return {};
  }
  async cancel(): Promise<BackendUpdate> {
    return { logLines: ['external: cancelled in Exemplar; the external system must stop its own job'] };
  }
}
