import { createHash } from 'node:crypto';
import { z } from 'zod';
import { readableAgents } from '../access/access.ts';
import { renderTable } from '../cli/table.ts';
import { READABLE_TABLES } from '../sql/check.ts';
import { DEFAULT_ROW_LIMIT, describeSchema, MAX_ROW_LIMIT, runReadOnlySql } from '../sql/gateway.ts';
import { recordAudit } from '../audit/audit.ts';
import { ExemplarError } from '../errors.ts';
import { SqlRejectedError } from '../sql/errors.ts';
import { defaultSqlConcurrency, SqlLimiter } from '../sql/limits.ts';
import type { Exemplar } from '../exemplar.ts';
import { defineOperation } from './operation.ts';

export const runSql = defineOperation({
  name: 'run_sql',
  rateLimit: 'search',
  title: 'Run a read-only SQL query',
  description:
    `Runs one read-only query (SELECT, WITH, VALUES, or EXPLAIN without ANALYZE) over ${READABLE_TABLES.join(', ')} ` +
    '(columns: describe_schema), for what other tools do not answer: counts, averages, distributions, joins. Writes, SET, ' +
    'other tables and volatile functions are refused with the reason. Rolled back, stopped after 5 s, at most rowLimit rows ' +
    `(default ${DEFAULT_ROW_LIMIT}) within the server's byte limit; truncated says there were more, so aggregate in SQL. ` +
    "An agent-scoped key sees only its agents' rows.",
  input: z.object({
    sql: z.string().min(1).describe('One SELECT, e.g. SELECT example_type, count(*), avg(reward_score) FROM training_examples GROUP BY 1'),
    rowLimit: z
      .number()
      .int()
      .min(1)
      .max(MAX_ROW_LIMIT)
      .optional()
      .describe(`Most rows to return (default ${DEFAULT_ROW_LIMIT}, at most ${MAX_ROW_LIMIT})`),
  }),
  output: z.object({
    columns: z.array(z.string()).describe('Column names in order; empty when no row came back'),
    rows: z.array(z.record(z.string(), z.unknown())).describe('One object per row, values as JSON'),
    rowCount: z.number().int().describe('Rows returned'),
    truncated: z.boolean().describe('More rows existed than rowLimit'),
    truncatedBy: z
      .enum(['rows', 'bytes', 'time'])
      .optional()
      .describe('When truncated: rows (rowLimit), bytes (the result size limit) or time (reading the rows took the time allowed)'),
    ms: z.number().describe('Time the query took, in milliseconds'),
  }),
  access: 'filtered',
  http: { method: 'POST', path: '/v1/sql' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'sql',
    args: ['sql'],
    summary: (o) =>
      `${o.rows.length > 0 ? `${renderTable(o.rows, o.columns)}\n` : ''}` +
      `${o.rowCount} row${o.rowCount === 1 ? '' : 's'}${o.truncated ? TRUNCATED[o.truncatedBy ?? 'rows'] : ''} in ${o.ms} ms`,
    examples: [
      `exemplar sql "SELECT a.name, count(*), round(avg(t.reward_score)::numeric, 2) FROM agents a JOIN training_examples t ON t.agent_id = a.id GROUP BY 1"`,
      `exemplar --json sql "SELECT prompt, reward_score FROM training_examples ORDER BY reward_score DESC" --row-limit 20`,
    ],
  },
  run: async ({ sql, rowLimit }, { app, access, actor }) => {
    // Every statement that reaches the database through the gateway is in audit_log (refused ones never do).
    const audit = (details: Record<string, unknown>) =>
      recordAudit(app.db, { actor, action: 'sql.query', entityType: 'sql', details: { ...auditedSql(sql), ...details } });
    const release = await limiterOf(app).enter(access.keyId ?? 'local');
    try {
      const result = await runReadOnlySql(app.db, sql, {
        agentIds: readableAgents(access),
        rowLimit,
        maxResultBytes: app.config.sqlMaxResultBytes,
        embeddedMaxMs: app.config.sqlEmbeddedMaxMs,
      });
      await audit({ ok: true, rowCount: result.rowCount, truncated: result.truncated, ...(result.truncatedBy ? { truncatedBy: result.truncatedBy } : {}), ms: result.ms });
      return result;
    } catch (err) {
      if (!(err instanceof SqlRejectedError)) await audit({ ok: false, error: err instanceof ExemplarError ? err.code : 'internal' });
      throw err;
    } finally {
      release();
    }
  },
});

const TRUNCATED = {
  rows: ' (truncated: raise --row-limit or aggregate)',
  bytes: ' (truncated at the result size limit, EXEMPLAR_SQL_MAX_RESULT_BYTES: select fewer or shorter columns, or aggregate)',
  time: ' (truncated: reading more rows would take longer than allowed, on PGlite EXEMPLAR_SQL_EMBEDDED_MAX_MS: add LIMIT or aggregate)',
};

/** Statements longer than this are audited as their start, their length and a hash of the whole. */
export const AUDITED_SQL_CHARS = 2000;

/** What audit_log keeps of a statement: bounded, so a read key cannot grow the database by sending long ones. */
export function auditedSql(sql: string): { sql: string; sqlSha256: string; sqlLength?: number } {
  const sqlSha256 = createHash('sha256').update(sql, 'utf8').digest('hex');
  if (sql.length <= AUDITED_SQL_CHARS) return { sql, sqlSha256 };
  // Never cut a surrogate pair in two: jsonb refuses a lone half.
  let end = AUDITED_SQL_CHARS;
  if (/[\uD800-\uDBFF]/.test(sql[end - 1])) end--;
  return { sql: sql.slice(0, end), sqlSha256, sqlLength: sql.length };
}

/** One limiter per database, so the limits hold across every door of one process. */
const limiters = new WeakMap<object, SqlLimiter>();

function limiterOf(app: Exemplar): SqlLimiter {
  let limiter = limiters.get(app.db);
  if (!limiter) {
    const defaults = defaultSqlConcurrency(app.db.kind, app.config.dbPoolSize);
    limiter = new SqlLimiter({
      ...defaults,
      overall: app.config.sqlMaxConcurrent ?? defaults.overall,
      perKey: app.config.sqlMaxConcurrentPerKey ?? defaults.perKey,
    });
    limiters.set(app.db, limiter);
  }
  return limiter;
}

const column = z.object({
  name: z.string(),
  type: z.string().describe('PostgreSQL type, e.g. uuid, text, double precision, jsonb, timestamp with time zone'),
  nullable: z.boolean(),
  comment: z.string().nullable(),
});

export const describeSchemaOp = defineOperation({
  name: 'describe_schema',
  title: 'Describe the SQL schema',
  description:
    "Lists the columns (name, type, nullability, meaning) of the tables run_sql reads. Call it before writing a run_sql query. " +
    "training_examples holds each agent's prompt, completion, reward_score (0..1) and example_type; agent_id points at agents.id.",
  input: z.object({}),
  output: z.object({
    tables: z.array(z.object({ name: z.string(), comment: z.string().nullable(), columns: z.array(column) })),
  }),
  access: 'filtered',
  http: { method: 'GET', path: '/v1/sql/schema' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'schema',
    summary: (o) =>
      o.tables
        .map((t) => `${t.name}${t.comment ? `: ${t.comment}` : ''}\n${renderTable(t.columns, ['name', 'type', 'nullable', 'comment'])}`)
        .join('\n\n'),
  },
  run: async (_input, { app, access }) => describeSchema(app.db, readableAgents(access)),
});
