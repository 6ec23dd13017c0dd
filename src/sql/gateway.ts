import type { Database, Queryable } from '../db/database.ts';
import { sqlState } from '../db/errors.ts';
import { ExemplarError, ValidationError } from '../errors.ts';
import { isUuid } from '../validation.ts';
import { checkStatement, READABLE_TABLES, statementTypes, type CheckedStatement } from './check.ts';
import { SqlQueryError, SqlRejectedError, SqlTimeoutError } from './errors.ts';

export const DEFAULT_ROW_LIMIT = 500;
export const MAX_ROW_LIMIT = 10_000;
export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 300_000;

/** Whose rows a query sees: every agent's, or only these agents' (by id). */
export type SqlScope = string[] | 'all';

export interface RunSqlOptions {
  agentIds: SqlScope;
  /** Rows returned at most (default 500, max 10000); `truncated` says when there were more. */
  rowLimit?: number;
  /** Time limit of the query (default 5000 ms). */
  timeoutMs?: number;
}

export interface SqlResult {
  columns: string[];
  rows: Record<string, unknown>[];
  rowCount: number;
  truncated: boolean;
  ms: number;
}

/**
 * Runs one read-only query for a person or a model. The statement is checked with PostgreSQL's
 * parser (see checkStatement) and against the catalog (no VOLATILE function), then runs in a READ
 * ONLY transaction with a statement_timeout and a row cap, which is always rolled back. A scoped
 * query resolves the table names to views that keep only its agents' rows.
 */
export async function runReadOnlySql(db: Database, sql: string, opts: RunSqlOptions): Promise<SqlResult> {
  const rowLimit = opts.rowLimit ?? DEFAULT_ROW_LIMIT;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(rowLimit) || rowLimit < 1 || rowLimit > MAX_ROW_LIMIT) {
    throw new ValidationError('rowLimit', `must be an integer from 1 to ${MAX_ROW_LIMIT} (got ${rowLimit})`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ValidationError('timeoutMs', `must be an integer from 1 to ${MAX_TIMEOUT_MS} (got ${timeoutMs})`);
  }
  const scope = opts.agentIds;
  if (scope !== 'all' && !scope.every(isUuid)) throw new ValidationError('agentIds', 'must be agent UUIDs');

  const stmt = await checkStatement(sql);
  await checkCatalog(db, stmt);
  if (db.kind === 'pglite' && stmt.recursive) {
    throw new SqlRejectedError(
      'WITH RECURSIVE is not allowed on the embedded database: PGlite cannot stop a running query, and PostgreSQL ' +
        'cannot estimate how long a recursive one runs. Use a PostgreSQL server (DATABASE_URL) for recursive queries.',
    );
  }

  const started = performance.now();
  try {
    const { columns, rows, truncated } = await inRolledBackTransaction(db, async (tx) => {
      await enterSandbox(tx, scope, timeoutMs);
      if (db.kind === 'pglite' && stmt.kind === 'select') await checkEstimatedTime(tx, stmt.text, timeoutMs);
      return stmt.kind === 'explain' ? explain(tx, stmt, rowLimit) : select(tx, stmt, rowLimit);
    });
    return { columns, rows, rowCount: rows.length, truncated, ms: Math.round(performance.now() - started) };
  } catch (err) {
    if (err instanceof ExemplarError) throw err;
    const state = sqlState(err);
    if (state === '57014') {
      throw new SqlTimeoutError(`query ran longer than ${timeoutMs} ms and was cancelled; narrow it with WHERE or LIMIT`, {
        timeoutMs,
      });
    }
    if (state) throw new SqlQueryError(`PostgreSQL refused the query: ${(err as Error).message}`, { sqlState: state });
    throw err;
  }
}

export interface ColumnInfo {
  name: string;
  type: string;
  nullable: boolean;
  comment: string | null;
}

export interface TableInfo {
  name: string;
  comment: string | null;
  columns: ColumnInfo[];
}

/**
 * The tables run_sql can read, with their columns, types and comments: what the caller's queries
 * see (for a scoped caller, the views over its agents' rows). Row counts are left out on purpose:
 * a table's total would tell a scoped key about other agents.
 */
export async function describeSchema(db: Queryable, agentIds: SqlScope): Promise<{ tables: TableInfo[] }> {
  const { rows } = await db.query<{ table: string; tableComment: string | null } & ColumnInfo>(
    `SELECT c.relname AS "table", obj_description(b.oid, 'pg_class') AS "tableComment",
            a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            NOT coalesce(ba.attnotnull, a.attnotnull) AS nullable, col_description(b.oid, ba.attnum) AS comment
       FROM pg_class c
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_class b ON b.relname = c.relname AND b.relnamespace = to_regnamespace(quote_ident(current_schema()))
       LEFT JOIN pg_attribute ba ON ba.attrelid = b.oid AND ba.attname = a.attname
      WHERE c.relnamespace = to_regnamespace(quote_ident(current_schema() || $1))
        AND c.relname = ANY ($2::text[])
      ORDER BY array_position($2::text[], c.relname::text), a.attnum`,
    [agentIds === 'all' ? '' : '_scoped', READABLE_TABLES],
  );
  const tables = new Map<string, TableInfo>();
  for (const { table, tableComment, ...column } of rows) {
    if (!tables.has(table)) tables.set(table, { name: table, comment: tableComment, columns: [] });
    tables.get(table)!.columns.push(column);
  }
  return { tables: [...tables.values()] };
}

/** Functions and operators are checked in the catalog: only built-in ones, never a VOLATILE one. */
async function checkCatalog(db: Queryable, stmt: CheckedStatement): Promise<void> {
  for (const name of stmt.functions) {
    const why = DENIED_FUNCTIONS.find(([pattern]) => pattern.test(name))?.[1];
    if (why) throw new SqlRejectedError(`${name}() is not allowed: ${why}`, { function: name });
  }
  if (stmt.functions.length > 0) {
    const { rows } = await db.query<{ name: string; volatile: boolean; builtin: boolean }>(
      `SELECT proname AS name, bool_or(provolatile = 'v') AS volatile,
              bool_or(pronamespace = 'pg_catalog'::regnamespace) AS builtin
         FROM pg_catalog.pg_proc WHERE proname = ANY ($1::text[]) GROUP BY proname`,
      [stmt.functions],
    );
    const found = new Map(rows.map((r) => [r.name, r]));
    for (const name of stmt.functions) {
      const fn = found.get(name);
      if (!fn) throw new SqlRejectedError(`function ${name}() does not exist`, { function: name });
      if (!fn.builtin) {
        throw new SqlRejectedError(`${name}() is not allowed: only built-in PostgreSQL functions can be called`, { function: name });
      }
      if (fn.volatile) {
        throw new SqlRejectedError(
          `${name}() is not allowed: it is VOLATILE, so it may have side effects (writes, settings, sleeps, files)`,
          { function: name },
        );
      }
    }
  }
  if (stmt.operators.length > 0) {
    const { rows } = await db.query<{ name: string }>(
      `SELECT DISTINCT o.oprname AS name FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
        WHERE o.oprname = ANY ($1::text[]) AND p.provolatile = 'v'`,
      [stmt.operators],
    );
    if (rows.length > 0) {
      throw new SqlRejectedError(`operator ${rows[0].name} is not allowed: its function is VOLATILE`, { operator: rows[0].name });
    }
  }
}

/** Built-in functions that are not VOLATILE yet reach around the sandbox. */
const DENIED_FUNCTIONS: [RegExp, string][] = [
  [/^(table|schema|database|query|cursor)_to_xml/, 'it reads tables by name, around the list of readable tables'],
  [/^pg_stat_get_/, "it shows the server's activity, other sessions' queries included"],
  [/^(txid_current|pg_current_xact_id)/, 'it assigns a transaction id, which is a write'],
];

const ROLLBACK = Symbol('rollback');

/** Runs `fn` in a transaction that is always rolled back, and returns its result. */
async function inRolledBackTransaction<T>(db: Database, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  try {
    await db.transaction(async (tx) => {
      result = { value: await fn(tx) };
      throw ROLLBACK; // db.transaction commits when fn returns, and rolls back when it throws.
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
  }
  return result!.value;
}

/**
 * Makes the transaction read-only with a time limit, and points unqualified names at the real tables
 * (all agents) or at the views over the scope's agents. The user's statement can undo none of it:
 * SET, set_config() and schema-qualified names are refused.
 */
async function enterSandbox(tx: Queryable, scope: SqlScope, timeoutMs: number): Promise<void> {
  await tx.query('SET TRANSACTION READ ONLY');
  const { rows } = await tx.query<{ schema: string; hasViews: boolean }>(
    `SELECT current_schema() AS schema, to_regnamespace(quote_ident(current_schema() || '_scoped')) IS NOT NULL AS "hasViews"`,
  );
  const { schema, hasViews } = rows[0];
  if (scope !== 'all' && !hasViews) {
    throw new SqlQueryError(
      `scoped SQL is unavailable: schema ${schema}_scoped is missing (migration 003 could not create it; ` +
        'give the database user CREATE on the database and restart)',
    );
  }
  const searchPath = scope === 'all' ? schema : `${schema}_scoped`;
  await tx.exec(
    [
      `SET LOCAL statement_timeout = ${timeoutMs}`,
      // The server must split strings the way the parser that checked the statement did.
      'SET LOCAL standard_conforming_strings = on',
      // pg_catalog stays first (implicitly); pg_temp goes last, so no temporary table can shadow a name.
      `SET LOCAL search_path = ${quoteIdent(searchPath)}, pg_temp`,
      // Validated UUIDs: nothing here needs quoting.
      ...(scope === 'all' ? [] : [`SET LOCAL exemplar.agent_ids = '${scope.join(',')}'`]),
    ].join(';\n'),
  );
}

/**
 * Reads through a cursor, so only rowLimit + 1 rows are ever produced: the extra one tells
 * `truncated`. Each row comes back as [names, values] from to_json, which keeps duplicate column
 * names and gives the same JSON values on PGlite and on pg.
 */
async function select(tx: Queryable, stmt: CheckedStatement, rowLimit: number): Promise<Omit<SqlResult, 'rowCount' | 'ms'>> {
  const declare =
    'DECLARE exemplar_sql NO SCROLL CURSOR FOR SELECT (SELECT json_build_array(json_agg(key ORDER BY n), json_agg(value ORDER BY n)) ' +
    `FROM json_each(to_json(q.*)) WITH ORDINALITY AS c(key, value, n)) AS r FROM (\n${stmt.text}\n) AS q`;
  // Belt and braces: the text sent must still be one statement, whatever the user's text held.
  const types = await statementTypes(declare);
  if (types.length !== 1 || types[0] !== 'DeclareCursorStmt') throw new SqlRejectedError('the query does not stand alone as one SELECT');
  await tx.query(declare);
  const { rows } = await tx.query<{ r: [string[] | null, unknown[] | null] }>(`FETCH ${rowLimit + 1} FROM exemplar_sql`);
  const kept = rows.slice(0, rowLimit).map((row) => row.r);
  const columns = uniqueNames(kept[0]?.[0] ?? []);
  return {
    columns,
    rows: kept.map(([, values]) => Object.fromEntries(columns.map((c, i) => [c, values?.[i] ?? null]))),
    truncated: rows.length > rowLimit,
  };
}

/** EXPLAIN cannot run in a cursor; its plan is short, so the cap applies after the fact. */
async function explain(tx: Queryable, stmt: CheckedStatement, rowLimit: number): Promise<Omit<SqlResult, 'rowCount' | 'ms'>> {
  const { rows } = await tx.query<Record<string, unknown>>(stmt.text);
  return { columns: Object.keys(rows[0] ?? {}), rows: rows.slice(0, rowLimit), truncated: rows.length > rowLimit };
}

/**
 * PGlite runs queries on the JavaScript thread and never fires statement_timeout, so nothing can
 * stop a query once it runs. Instead, refuse what the planner expects to take too long. Measured
 * on PGlite: 4 to 70 ms per 1000 units of plan cost, so 10 units per ms keeps to the limit.
 */
const PGLITE_COST_PER_MS = 10;

async function checkEstimatedTime(tx: Queryable, text: string, timeoutMs: number): Promise<void> {
  const { rows } = await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${text}`);
  const value = Object.values(rows[0])[0];
  const plan = (typeof value === 'string' ? JSON.parse(value) : value) as { Plan: { 'Total Cost': number } }[];
  const cost = plan[0].Plan['Total Cost'];
  if (cost > timeoutMs * PGLITE_COST_PER_MS) {
    throw new SqlTimeoutError(
      `query would run longer than ${timeoutMs} ms (estimated cost ${Math.round(cost)}), and the embedded database ` +
        'cannot stop a running query, so it was not started; narrow it with WHERE or LIMIT',
      { timeoutMs, estimatedCost: cost },
    );
  }
}

/** Column names as keys of a row object: a repeated name gets a suffix (id, id_2). */
function uniqueNames(names: string[]): string[] {
  const seen = new Set<string>();
  return names.map((name) => {
    let unique = name;
    for (let i = 2; seen.has(unique); i++) unique = `${name}_${i}`;
    seen.add(unique);
    return unique;
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
