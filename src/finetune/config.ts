import { ValidationError } from '../errors.ts';

/** The fine-tuning settings read from the environment (see the README's configuration table). */
export interface FineTuneConfig {
  /** The local backend's training command, with {config} {train} {validation} {dir} placeholders. */
  command?: string;
  /** How often the poller asks backends about active runs. */
  pollMs: number;
}

export function loadFineTuneConfig(env: NodeJS.ProcessEnv = process.env): FineTuneConfig {
  const raw = env.EXEMPLAR_FINETUNE_POLL_MS;
  const pollMs = raw === undefined || raw === '' ? 30_000 : Number(raw);
  if (!Number.isInteger(pollMs) || pollMs <= 0) throw new ValidationError('EXEMPLAR_FINETUNE_POLL_MS', `must be a positive integer, got "${raw}"`);
  return { command: env.EXEMPLAR_FINETUNE_COMMAND?.trim() || undefined, pollMs };
}
