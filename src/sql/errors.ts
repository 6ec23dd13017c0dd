import { ExemplarError } from '../errors.ts';

/** The SQL gateway refused a statement before running it. The message says what and why. */
export class SqlRejectedError extends ExemplarError {
  readonly code = 'sql_rejected';
  readonly status = 400;
}

/** PostgreSQL refused the query (an unknown column, a bad cast, ...). Carries its message and SQLSTATE. */
export class SqlQueryError extends ExemplarError {
  readonly code = 'sql_error';
  readonly status = 400;
}

/** The query ran, or would run, longer than its time limit. */
export class SqlTimeoutError extends ExemplarError {
  readonly code = 'sql_timeout';
  readonly status = 400;
}

/** Not even the first row of the result fits in the result size limit. */
export class SqlResultTooLargeError extends ExemplarError {
  readonly code = 'sql_result_too_large';
  readonly status = 413;
}

/** Too many run_sql queries are running already, for this key or in all. The caller may retry shortly. */
export class SqlBusyError extends ExemplarError {
  readonly code = 'sql_busy';
  readonly status = 429;
}
