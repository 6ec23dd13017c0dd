import { ExemplarError } from '../errors.ts';

/** A training backend failed or is not set up. The message never holds a secret. */
export class FineTuneBackendError extends ExemplarError {
  readonly code = 'finetune_backend_error';
  readonly status = 502;
}

/** A status change that the run's current status does not allow (terminal states are final). */
export class InvalidTransitionError extends ExemplarError {
  readonly code = 'invalid_transition';
  readonly status = 409;
  constructor(runId: string, from: string, to: string) {
    super(`run ${runId} is ${from}; it cannot become ${to}`, { runId, from, to });
  }
}

/** Log lines over one of the run log limits (per update, or in total per run). */
export class LogLimitError extends ExemplarError {
  readonly code = 'log_limit_exceeded';
  readonly status = 413;
  constructor(what: string, got: number, limit: number, variable: string) {
    super(`logLines: ${got} ${what} is over the limit of ${limit} (${variable})`, { field: 'logLines', got, limit, variable });
  }
}

/** A local run's process lives on another machine (or container): only the server there can stop it. */
export class RunElsewhereError extends ExemplarError {
  readonly code = 'run_elsewhere';
  readonly status = 409;
}
