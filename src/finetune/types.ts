/** The fine-tuning run model shared by the service, the backends and the poller. */

export const RUN_STATUSES = ['pending', 'validating', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];
export const ACTIVE_STATUSES: readonly RunStatus[] = ['pending', 'validating', 'queued', 'running'];

export const BACKEND_NAMES = ['openai', 'local', 'external'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Statuses only move forward: pending → validating → queued → running → a terminal state (steps may be skipped). */
const RANK: Record<RunStatus, number> = { pending: 0, validating: 1, queued: 2, running: 3, succeeded: 4, failed: 4, cancelled: 4 };

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** Whether a run in `from` may move to `to`. Terminal states are final. */
export function canTransition(from: RunStatus, to: RunStatus): boolean {
  return !isTerminal(from) && RANK[to] > RANK[from];
}

export interface StatusChange {
  status: RunStatus;
  at: string;
}

export interface Run {
  id: string;
  agentId: string;
  agentName: string;
  backend: BackendName;
  baseModel: string;
  hyperparameters: Record<string, unknown>;
  datasetFormat: string;
  datasetSha256: string | null;
  validationSha256: string | null;
  status: RunStatus;
  statusHistory: StatusChange[];
  externalId: string | null;
  resultModel: string | null;
  error: string | null;
  createdBy: string;
  /** Who, for people: the API key's name for key:<id>, otherwise createdBy. */
  createdByName: string;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** A run as backends see it: with the state they stored. */
export interface BackendRun extends Run {
  backendState: Record<string, unknown>;
}

/** The dataset files of a run, on disk in the run's folder. */
export interface RunFiles {
  dir: string;
  train: string;
  /** Null when the dataset has no validation split. */
  validation: string | null;
}

/** What a backend reports; every field optional. `state` is merged into backend_state. */
export interface BackendUpdate {
  status?: RunStatus;
  externalId?: string;
  resultModel?: string;
  error?: string;
  logLines?: string[];
  state?: Record<string, unknown>;
}

/** One way to train a model. */
export interface RunBackend {
  readonly name: BackendName;
  /** Refuses a run it cannot train (a dataset format it does not take), before anything is written. */
  check(opts: { format: string; hyperparameters: Record<string, unknown>; command?: string }): void;
  /** Starts training. */
  start(run: BackendRun, files: RunFiles): Promise<BackendUpdate>;
  /** What changed since the last poll. */
  poll(run: BackendRun): Promise<BackendUpdate>;
  /** Asks the backend to stop. The run is marked cancelled whatever it answers. */
  cancel(run: BackendRun): Promise<BackendUpdate>;
}
