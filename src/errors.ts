/**
 * Every bad input has its own error type. Each carries a stable `code` for programs, an HTTP-ish
 * `status` for the doors, and a message that names what was wrong and where (field, line).
 */
export abstract class ExemplarError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  /** Extra machine-readable context (field, line, ...). Never holds secrets. */
  readonly details: Record<string, unknown>;

  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.details = details;
  }

  toJSON(): { code: string; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One field of one input is wrong. `line` is set when the input came from a file. */
export class ValidationError extends ExemplarError {
  readonly code = 'invalid_input';
  readonly status = 400;
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly line?: number,
    /** More context for programs, e.g. the limit that was exceeded and its variable. */
    extra: Record<string, unknown> = {},
  ) {
    super(`${line !== undefined ? `line ${line}: ` : ''}${field ? `${field}: ` : ''}${reason}`, {
      field,
      ...(line !== undefined ? { line } : {}),
      ...extra,
    });
  }
}

/** An HTTP request body over its limit; refused before it is read in full (and before authentication). */
export class BodyTooLargeError extends ExemplarError {
  readonly code = 'body_too_large';
  readonly status = 413;
  constructor(limit: number, variable: string) {
    super(`the request body is over the limit of ${limit} bytes (${variable})`, { limit, variable });
  }
}

/** A prompt or completion is larger than EXEMPLAR_MAX_TEXT_BYTES. */
export class TextTooLargeError extends ExemplarError {
  readonly code = 'text_too_large';
  readonly status = 413;
  constructor(field: string, bytes: number, limit: number, line?: number) {
    super(
      `${line !== undefined ? `line ${line}: ` : ''}${field}: ${bytes} bytes is over the limit of ${limit} bytes (EXEMPLAR_MAX_TEXT_BYTES)`,
      { field, bytes, limit, ...(line !== undefined ? { line } : {}) },
    );
  }
}

/** The thing named does not exist. */
export class NotFoundError extends ExemplarError {
  readonly code = 'not_found';
  readonly status = 404;
  constructor(entity: string, key: string, similar: string[] = []) {
    super(`${entity} not found: ${key}${similar.length ? ` (did you mean ${similar.join(', ')}?)` : ''}`, { entity, key, ...(similar.length ? { similar } : {}) });
  }
}

/** The change collides with existing state: a duplicate name, a stale version. */
export class ConflictError extends ExemplarError {
  readonly code = 'conflict';
  readonly status = 409;
}

/** A file is not valid UTF-8. Points at the first bad byte. */
export class EncodingError extends ExemplarError {
  readonly code = 'invalid_encoding';
  readonly status = 400;
  constructor(line: number, byteOffset: number) {
    super(`line ${line}: the file is not valid UTF-8 (first bad byte at offset ${byteOffset})`, {
      line,
      byteOffset,
    });
  }
}

/** A file failed validation. Lists every bad line; nothing was written. */
export class ImportError extends ExemplarError {
  readonly code = 'invalid_file';
  readonly status = 400;
  constructor(readonly problems: LineProblem[]) {
    const shown = problems.slice(0, 5).map((p) => p.message);
    const more = problems.length > shown.length ? ` (and ${problems.length - shown.length} more)` : '';
    super(
      `${problems.length} invalid line${problems.length === 1 ? '' : 's'}, nothing imported: ${shown.join('; ')}${more}. ` +
        'Fix them, or pass --skip-invalid to import the valid lines only.',
      { problems: problems.slice(0, 100) },
    );
  }
}

export interface LineProblem {
  line: number;
  field: string;
  message: string;
}

/**
 * An embedding provider failed or is not set up: a rejected API key, a server that keeps failing, a
 * missing optional package or model. The message says what to change; it never holds a secret.
 */
export class EmbeddingProviderError extends ExemplarError {
  readonly code = 'embedding_provider_error';
  readonly status = 502;
}

/**
 * How an unexpected error is written to the server's log: its message, SQLSTATE and stack, never the
 * properties a driver attaches (PGlite's `params` and `query`, PostgreSQL's `detail` and `where`),
 * which hold users' prompts and other stored text.
 */
export function describeUnexpected(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const sqlstate = (err as { code?: unknown }).code;
  const code = typeof sqlstate === 'string' ? ` [${sqlstate}]` : '';
  const stack = err.stack?.split('\n').slice(1).join('\n');
  return `${err.name}${code}: ${err.message}${stack ? `\n${stack}` : ''}`;
}

/** Turns anything thrown into the JSON body the doors send back. */
export function errorBody(err: unknown): { code: string; message: string; details?: Record<string, unknown> } {
  if (err instanceof ExemplarError) return err.toJSON();
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}
