import { envPositiveInt } from '../config/env.ts';
import { ValidationError } from '../errors.ts';

/** The fine-tuning settings read from the environment (see the README's configuration table). */
export interface FineTuneConfig {
  /** The local backend's training command, with {config} {train} {validation} {dir} placeholders. */
  command?: string;
  /** How often the poller asks backends about active runs. */
  pollMs: number;
  /** Most log lines one `update_run` may append. */
  logLinesPerUpdate: number;
  /** Most UTF-8 bytes of log one `update_run` may append. */
  logBytesPerUpdate: number;
  /** Most UTF-8 bytes of log a run keeps; the log lives in its row, rewritten on every append. */
  logMaxBytes: number;
}

export const DEFAULT_LOG_LINES_PER_UPDATE = 1000;
export const DEFAULT_LOG_BYTES_PER_UPDATE = 1024 * 1024;
export const DEFAULT_LOG_MAX_BYTES = 16 * 1024 * 1024;

export function loadFineTuneConfig(env: NodeJS.ProcessEnv = process.env): FineTuneConfig {
  const raw = env.EXEMPLAR_FINETUNE_POLL_MS;
  const pollMs = raw === undefined || raw === '' ? 30_000 : Number(raw);
  if (!Number.isInteger(pollMs) || pollMs <= 0) throw new ValidationError('EXEMPLAR_FINETUNE_POLL_MS', `must be a positive integer, got "${raw}"`);
  return {
    command: env.EXEMPLAR_FINETUNE_COMMAND?.trim() || undefined,
    pollMs,
    logLinesPerUpdate: envPositiveInt(env.EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE, 'EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE') ?? DEFAULT_LOG_LINES_PER_UPDATE,
    logBytesPerUpdate: envPositiveInt(env.EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE, 'EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE') ?? DEFAULT_LOG_BYTES_PER_UPDATE,
    logMaxBytes: envPositiveInt(env.EXEMPLAR_FINETUNE_LOG_MAX_BYTES, 'EXEMPLAR_FINETUNE_LOG_MAX_BYTES') ?? DEFAULT_LOG_MAX_BYTES,
  };
}
