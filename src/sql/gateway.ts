import type { Database, Queryable } from '../db/database.ts';
import { sqlState } from '../db/errors.ts';
import { ExemplarError, ValidationError } from '../errors.ts';
import { isUuid } from '../validation.ts';
import { checkStatement, READABLE_TABLES, statementTypes, type CheckedStatement, type FunctionCall } from './check.ts';
import { SqlQueryError, SqlRejectedError, SqlResultTooLargeError, SqlTimeoutError } from './errors.ts';
import { worstCase, type PlanNode, type TableFacts } from './worst-case.ts';

export const DEFAULT_ROW_LIMIT = 500;
export const MAX_ROW_LIMIT = 10_000;
export const DEFAULT_TIMEOUT_MS = 5000;
export const MAX_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_RESULT_BYTES = 10 * 1024 * 1024;
/**
 * On PGlite every other request waits while a gateway query runs, and nothing can stop it, so a
 * query is only started when the planner expects it to take less than this, and its rows are read
 * only while they fit in it. A search then waits at most about this long behind a key's worst query.
 */
export const DEFAULT_EMBEDDED_MAX_MS = 50;

/** Whose rows a query sees: every agent's, or only these agents' (by id). */
export type SqlScope = string[] | 'all';

export interface RunSqlOptions {
  agentIds: SqlScope;
  /** Rows returned at most (default 500, max 10000); `truncated` says when there were more. */
  rowLimit?: number;
  /** Time limit of the query (default 5000 ms). */
  timeoutMs?: number;
  /**
   * Most bytes of result, counted as each row's JSON (default 10 MB). Rows stop at the last whole
   * row that fits, with `truncated`; a first row that does not fit alone is an error (413).
   */
  maxResultBytes?: number;
  /** On PGlite only: the longest the query may hold the database, by the planner's estimate and while reading rows (default 50 ms). */
  embeddedMaxMs?: number;
}

export interface SqlResult {
  columns: string[];
  rows: Record<string, unknown>[];
  rowCount: number;
  truncated: boolean;
  /**
   * Which limit cut the result off, when `truncated`: the row limit, the result size limit, or the
   * time the rows may take to read (the timeout, or on PGlite the embedded limit).
   */
  truncatedBy?: 'rows' | 'bytes' | 'time';
  ms: number;
}

type Fetched = Omit<SqlResult, 'rowCount' | 'ms'>;

/**
 * Runs one read-only query for a person or a model. The statement is checked with PostgreSQL's
 * parser (see checkStatement) and against the catalog (no VOLATILE function), then runs in a READ
 * ONLY transaction with a statement_timeout and a row cap, which is always rolled back. A scoped
 * query resolves the table names to views that keep only its agents' rows.
 */
export async function runReadOnlySql(db: Database, sql: string, opts: RunSqlOptions): Promise<SqlResult> {
  const rowLimit = opts.rowLimit ?? DEFAULT_ROW_LIMIT;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const embeddedMaxMs = opts.embeddedMaxMs ?? DEFAULT_EMBEDDED_MAX_MS;
  if (!Number.isInteger(embeddedMaxMs) || embeddedMaxMs < 1) throw new ValidationError('embeddedMaxMs', `must be a positive integer (got ${embeddedMaxMs})`);
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new ValidationError('maxResultBytes', `must be a positive integer (got ${maxBytes})`);
  if (!Number.isInteger(rowLimit) || rowLimit < 1 || rowLimit > MAX_ROW_LIMIT) {
    throw new ValidationError('rowLimit', `must be an integer from 1 to ${MAX_ROW_LIMIT} (got ${rowLimit})`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ValidationError('timeoutMs', `must be an integer from 1 to ${MAX_TIMEOUT_MS} (got ${timeoutMs})`);
  }
  const scope = opts.agentIds;
  if (scope !== 'all' && !scope.every(isUuid)) throw new ValidationError('agentIds', 'must be agent UUIDs');

  const stmt = await checkStatement(sql);
  const setReturning = await checkCatalog(db, stmt);
  if (db.kind === 'pglite' && stmt.recursive) {
    throw new SqlRejectedError(
      'WITH RECURSIVE is not allowed on the embedded database: PGlite cannot stop a running query, and PostgreSQL ' +
        'cannot estimate how long a recursive one runs. Use a PostgreSQL server (DATABASE_URL) for recursive queries.',
    );
  }

  if (db.kind === 'pglite') {
    refuseUncountedSets(setReturning);
    refuseHiddenWork(stmt.calls);
    refuseBigNumbers(stmt);
  }

  // On PGlite the whole transaction holds the database, so its time is bounded by the smaller limit.
  const budget: TimeBudget =
    db.kind === 'pglite' && embeddedMaxMs < timeoutMs ? { ms: embeddedMaxMs, variable: 'EXEMPLAR_SQL_EMBEDDED_MAX_MS' } : { ms: timeoutMs };
  const started = performance.now();
  try {
    const result = await inRolledBackTransaction(db, async (tx) => {
      const sandbox = await enterSandbox(tx, scope, timeoutMs);
      if (db.kind === 'pglite' && stmt.kind === 'select') {
        if (scope === 'all') await checkEstimatedTime(tx, stmt.text, budget, true);
        else {
          // The planner guesses how many rows the scoped views keep (0.5% of a never-analyzed table,
          // when it is all of them), and a cross join of three turns that guess into a freeze. The
          // plan over the whole tables bounds it; its cost is not shown, as it tells of other agents.
          await tx.exec(`SET LOCAL search_path = ${quoteIdent(sandbox.schema)}, pg_temp`);
          await checkEstimatedTime(tx, stmt.text, budget, false);
          await tx.exec(`SET LOCAL search_path = ${quoteIdent(sandbox.searchPath)}, pg_temp`);
        }
        await checkSetSizes(tx, sql, stmt, setReturning);
        await checkWorstCase(tx, stmt, budget, sandbox.schema, scope === 'all');
      }
      const limits = { rowLimit, maxBytes, budget };
      return stmt.kind === 'explain' ? explain(tx, stmt, limits) : select(tx, stmt, limits);
    });
    return { ...result, rowCount: result.rows.length, ms: Math.round(performance.now() - started) };
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

/**
 * Functions and operators are checked in the catalog: only built-in ones, never a VOLATILE one.
 * Returns the calls of set-returning functions, with whether their arguments are truly constant
 * (no aggregate among the functions inside them).
 */
async function checkCatalog(db: Queryable, stmt: CheckedStatement): Promise<SetReturningCall[]> {
  const setReturning: SetReturningCall[] = [];
  for (const name of stmt.functions) {
    const why = DENIED_FUNCTIONS.find(([pattern]) => pattern.test(name))?.[1];
    if (why) throw new SqlRejectedError(`${name}() is not allowed: ${why}`, { function: name });
  }
  if (stmt.functions.length > 0) {
    const { rows } = await db.query<{ name: string; volatile: boolean; builtin: boolean; srf: boolean; aggregate: boolean }>(
      `SELECT proname AS name, bool_or(provolatile = 'v') AS volatile,
              bool_or(pronamespace = 'pg_catalog'::regnamespace) AS builtin,
              bool_or(proretset) AS srf, bool_or(prokind IN ('a', 'w')) AS aggregate
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
    for (const call of stmt.calls) {
      if (!found.get(call.name)?.srf) continue;
      const varying = call.argFunctions.some((f) => found.get(f)?.aggregate || found.get(f)?.srf);
      setReturning.push({ ...call, constantArgs: call.constantArgs && !varying });
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
  return setReturning;
}

type SetReturningCall = FunctionCall;

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
async function enterSandbox(tx: Queryable, scope: SqlScope, timeoutMs: number): Promise<{ schema: string; searchPath: string }> {
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
  return { schema, searchPath };
}

/** How long a query may take: its timeout, or on PGlite the embedded limit when that is smaller. */
interface TimeBudget {
  ms: number;
  /** The config variable that sets it, when it is not the query's own timeout. */
  variable?: string;
}

function budgetName(budget: TimeBudget): string {
  return budget.variable ? `${budget.ms} ms, the most one query may hold the embedded database (${budget.variable})` : `${budget.ms} ms`;
}

interface FetchLimits {
  rowLimit: number;
  maxBytes: number;
  budget: TimeBudget;
}

/**
 * Rows per FETCH: one first, so a query whose rows are slow to make (on PGlite nothing can stop it)
 * is caught by the time check after one of them; then as many as half the time left allows.
 */
const FIRST_BATCH = 1;
const MAX_BATCH = 1000;

/**
 * Reads through a cursor in batches, so only the rows returned (and one more, which tells
 * `truncated`) are ever produced, and no more than maxBytes of them ever reach this process: the
 * cursor itself blanks every row after the running total of row sizes passes the limit, so even
 * the batch that crosses it is small. Each row comes back as the JSON text of [names, values]
 * from to_json, which keeps duplicate column names and gives the same values on PGlite and on pg.
 */
async function select(tx: Queryable, stmt: CheckedStatement, limits: FetchLimits): Promise<Fetched> {
  const { rowLimit, maxBytes } = limits;
  const declare = `DECLARE exemplar_sql NO SCROLL CURSOR FOR ${cursorQuery(stmt, maxBytes)}`;
  // Belt and braces: the text sent must still be one statement, whatever the user's text held.
  const types = await statementTypes(declare);
  if (types.length !== 1 || types[0] !== 'DeclareCursorStmt') throw new SqlRejectedError('the query does not stand alone as one SELECT');
  await tx.query(declare);

  const kept: [string[] | null, unknown[] | null][] = [];
  let bytes = 0;
  let truncatedBy: SqlResult['truncatedBy'];
  let batch = FIRST_BATCH;
  const fetchStarted = performance.now();
  let firstFetchMs: number | undefined;
  while (truncatedBy === undefined) {
    const want = Math.min(batch, rowLimit + 1 - kept.length);
    const { rows } = await tx.query<{ r: string | null; bytes: number }>(`FETCH ${want} FROM exemplar_sql`);
    for (const fetched of rows) {
      if (kept.length === rowLimit) {
        truncatedBy = 'rows';
        break;
      }
      bytes += fetched.bytes;
      if (fetched.r === null || bytes > maxBytes) {
        truncatedBy = 'bytes';
        break;
      }
      kept.push(JSON.parse(fetched.r));
    }
    if (truncatedBy || rows.length < want) break;
    // statement_timeout counts each FETCH on its own, and PGlite nothing, so the read is timed here:
    // past the time allowed, the result stops with the rows so far, like the other limits. The
    // checks before it (parse, catalog, plan) are short and bounded, so the time counts from the
    // first FETCH. The next batch is as large as half the time left allows at the rate so far; the
    // first FETCH also started the query (an aggregate does all its work there), so it only sizes
    // the second batch, conservatively.
    const now = performance.now();
    const left = fetchStarted + limits.budget.ms - now;
    if (left <= 0) {
      truncatedBy = 'time';
      break;
    }
    const perRow = firstFetchMs === undefined ? now - fetchStarted : (now - fetchStarted - firstFetchMs) / (kept.length - 1);
    firstFetchMs ??= now - fetchStarted;
    batch = Math.max(1, Math.min(MAX_BATCH, Math.floor(left / Math.max(perRow, 0.001) / 2)));
  }
  if (truncatedBy === 'bytes' && kept.length === 0) {
    throw new SqlResultTooLargeError(
      `the first row alone is larger than the result size limit of ${maxBytes} bytes (EXEMPLAR_SQL_MAX_RESULT_BYTES); ` +
        'select fewer or shorter columns, e.g. left(completion, 200)',
      { limit: maxBytes, variable: 'EXEMPLAR_SQL_MAX_RESULT_BYTES' },
    );
  }
  const columns = uniqueNames(kept[0]?.[0] ?? []);
  return {
    columns,
    rows: kept.map(([, values]) => Object.fromEntries(columns.map((c, i) => [c, values?.[i] ?? null]))),
    truncated: truncatedBy !== undefined,
    ...(truncatedBy ? { truncatedBy } : {}),
  };
}

/**
 * The query the cursor reads: each row as the JSON text of [names, values], blanked once the running
 * total of row sizes passes maxBytes. A window with a frame from the first row streams: it keeps
 * neither earlier rows nor later ones.
 */
function cursorQuery(stmt: CheckedStatement, maxBytes: number): string {
  const row =
    '(SELECT json_build_array(json_agg(key ORDER BY n), json_agg(value ORDER BY n)) ' +
    'FROM json_each(to_json(q.*)) WITH ORDINALITY AS c(key, value, n))::text';
  return (
    'SELECT ' +
    `CASE WHEN sum(octet_length(j)) OVER (ROWS UNBOUNDED PRECEDING) <= ${maxBytes} THEN j END AS r, octet_length(j) AS bytes ` +
    // OFFSET 0 keeps s a subquery: pulled up, j's expression would be copied into each of its three
    // uses and each row turned into JSON three times.
    `FROM (SELECT ${row} AS j FROM (\n${stmt.text}\n) AS q OFFSET 0) AS s`
  );
}

/** EXPLAIN cannot run in a cursor; its plan is short, so both caps apply after the fact. */
async function explain(tx: Queryable, stmt: CheckedStatement, limits: FetchLimits): Promise<Fetched> {
  const { rows } = await tx.query<Record<string, unknown>>(stmt.text);
  const kept: Record<string, unknown>[] = [];
  let bytes = 0;
  let truncatedBy: SqlResult['truncatedBy'];
  for (const row of rows) {
    if (kept.length === limits.rowLimit) {
      truncatedBy = 'rows';
      break;
    }
    bytes += Buffer.byteLength(JSON.stringify(row));
    if (bytes > limits.maxBytes) {
      truncatedBy = 'bytes';
      break;
    }
    kept.push(row);
  }
  return { columns: Object.keys(rows[0] ?? {}), rows: kept, truncated: truncatedBy !== undefined, ...(truncatedBy ? { truncatedBy } : {}) };
}

/**
 * PGlite runs queries on the JavaScript thread and never fires statement_timeout, so nothing can
 * stop a query once it runs. Instead, refuse what the planner expects to take too long. Measured
 * on PGlite: 4 to 70 ms per 1000 units of plan cost, so 10 units per ms keeps to the limit.
 */
const PGLITE_COST_PER_MS = 10;

async function checkEstimatedTime(tx: Queryable, text: string, budget: TimeBudget, showCost: boolean): Promise<void> {
  const { rows } = await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${text}`);
  const cost = planOf(rows)['Total Cost'];
  if (cost > budget.ms * PGLITE_COST_PER_MS) {
    throw new SqlTimeoutError(
      `query would run longer than ${budgetName(budget)}${showCost ? ` (estimated cost ${Math.round(cost)})` : ''}, and the embedded database ` +
        'runs one query at a time and cannot stop a running one, so it was not started; narrow it with WHERE or LIMIT' +
        (budget.variable ? `, raise ${budget.variable} where no one else is waiting, or use a PostgreSQL server (DATABASE_URL)` : ''),
      { timeoutMs: budget.ms, ...(showCost ? { estimatedCost: cost } : {}) },
    );
  }
}

/**
 * Rows PGlite gets through per millisecond in the worst case the bound counts (a nested loop
 * comparing every pair, about 2 per microsecond measured), so budget × this is the most work allowed.
 */
const PGLITE_WORST_ROWS_PER_MS = 2000;

/**
 * The cost check trusts the planner's guesses of what filters keep; this one trusts none (see
 * worst-case.ts). It bounds the plan of the statement as the cursor will run it: with
 * cursor_tuple_fraction 1 the cursor plans for all rows, as a plain SELECT does, and the wrapper
 * around the statement (one row's JSON at a time) changes no join. A plan over the bound gets one more try without nested
 * loops, which the planner picks for joins it guesses small; a hash join's work is its inputs and
 * its output. Scoped callers are not told the bound: it counts other agents' rows.
 */
async function checkWorstCase(tx: Queryable, stmt: CheckedStatement, budget: TimeBudget, schema: string, showRows: boolean): Promise<void> {
  const allowed = budget.ms * PGLITE_WORST_ROWS_PER_MS;
  await tx.exec('SET LOCAL cursor_tuple_fraction = 1');
  let plan = await planTree(tx, stmt.text);
  const facts = await tableFacts(tx, schema, relationsIn(plan));
  // Renamed columns hide which column a name is: then no key counts.
  if (stmt.renamesColumns) facts.uniqueKeys = new Map();
  let bound = worstCase(plan, facts, !stmt.subqueries);
  if (bound.work <= allowed) return;
  await tx.exec('SET LOCAL enable_nestloop = off');
  plan = await planTree(tx, stmt.text);
  bound = worstCase(plan, facts, !stmt.subqueries);
  if (bound.work <= allowed) return;
  throw new SqlTimeoutError(
    `query could touch ${showRows && Number.isFinite(bound.work) ? `up to ${Math.round(bound.work).toLocaleString('en-US')} rows` : 'too many rows'} ` +
      `in the worst case, more than fit in ${budgetName(budget)}: the embedded database runs one query at a time and cannot ` +
      "stop a running one, so it counts each table whole and each join as every pair, unless a unique column (such as id) " +
      'joins it. Join on such a column, aggregate before joining, or use a PostgreSQL server (DATABASE_URL)' +
      (budget.variable ? `; or raise ${budget.variable} where no one else is waiting` : ''),
    { timeoutMs: budget.ms },
  );
}

async function planTree(tx: Queryable, query: string): Promise<PlanNode> {
  const { rows } = await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) ${query}`);
  return planOf(rows) as unknown as PlanNode;
}

function relationsIn(plan: PlanNode, into = new Set<string>()): Set<string> {
  if (plan['Relation Name']) into.add(plan['Relation Name']);
  for (const child of plan.Plans ?? []) relationsIn(child, into);
  return into;
}

/**
 * Each table's whole size and its unique keys. The size is the larger of the planner's (the
 * table's current pages times the rows it expects per page) and the statistics' live row count;
 * either may be somewhat off, which moves the bound by that factor, not by the factors a join makes.
 */
async function tableFacts(tx: Queryable, schema: string, tables: Set<string>): Promise<TableFacts> {
  const rows = new Map<string, number>();
  const { rows: live } = await tx.query<{ table: string; n: number }>(
    'SELECT relname AS "table", n_live_tup::float8 AS n FROM pg_catalog.pg_stat_user_tables WHERE schemaname = $1 AND relname = ANY ($2::text[])',
    [schema, [...tables]],
  );
  for (const table of tables) {
    const planned = planOf((await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) SELECT * FROM ${quoteIdent(schema)}.${quoteIdent(table)}`)).rows)['Plan Rows'];
    rows.set(table, Math.max(planned, live.find((r) => r.table === table)?.n ?? 0));
  }
  return { rows, uniqueKeys: await uniqueKeysOf(tx, schema) };
}

/** Unique keys come from the migrations, so they are read once per schema. */
const uniqueKeysBySchema = new Map<string, Promise<Map<string, string[][]>>>();

function uniqueKeysOf(tx: Queryable, schema: string): Promise<Map<string, string[][]>> {
  let keys = uniqueKeysBySchema.get(schema);
  if (!keys) {
    keys = readUniqueKeys(tx, schema);
    uniqueKeysBySchema.set(schema, keys);
    keys.catch(() => uniqueKeysBySchema.delete(schema));
  }
  return keys;
}

async function readUniqueKeys(tx: Queryable, schema: string): Promise<Map<string, string[][]>> {
  const { rows: keys } = await tx.query<{ table: string; columns: string[] }>(
    `SELECT c.relname AS "table", array_agg(a.attname::text ORDER BY k.i) AS columns
       FROM pg_catalog.pg_index x
       JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
       CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
      WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[])
        AND x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL
      GROUP BY x.indexrelid, c.relname`,
    [quoteIdent(schema), [...READABLE_TABLES]],
  );
  const uniqueKeys = new Map<string, string[][]>();
  for (const { table, columns } of keys) uniqueKeys.set(table, [...(uniqueKeys.get(table) ?? []), columns]);
  return uniqueKeys;
}

/**
 * PGlite cannot stop a running query, so the cost check must see every row a query can make. A
 * set-returning function hides its rows from the planner unless its arguments are constants: for
 * `generate_series(1, (SELECT 100000000))` or `generate_series(1, t.n)` the planner assumes 1000
 * rows, whatever the real count. So on PGlite a set-returning function must have constant
 * arguments...
 */
function refuseUncountedSets(calls: SetReturningCall[]): void {
  const call = calls.find((c) => !c.constantArgs);
  if (!call) return;
  throw new SqlRejectedError(
    `${call.name}() needs constant arguments here: on the embedded database (PGlite), which cannot stop a running query, ` +
      'the gateway counts the rows of every set-returning function before the query starts, and it cannot count them when ' +
      'its arguments read columns, subqueries or aggregates. Use literals (and expressions of them, such as ' +
      "now() - interval '7 days'), or run the query on a PostgreSQL server (DATABASE_URL).",
    { function: call.name, location: call.location },
  );
}

/** Counting up to this many rows of one function before the query starts takes about 10 ms on PGlite. */
const MAX_COUNTED_ROWS = 10_000;

/**
 * ...and may make no more rows than the planner assumes for it (its own count for generate_series
 * over integers; 1000 for dates, 100 for json_array_elements), checked by counting them, at most
 * that many plus one. An estimate above MAX_COUNTED_ROWS only comes from a function's own row
 * count for its constant arguments (no catalog default is that high), so it is trusted.
 */
async function checkSetSizes(tx: Queryable, sql: string, stmt: CheckedStatement, calls: SetReturningCall[]): Promise<void> {
  for (const call of calls) {
    const text = await callText(sql, stmt, call);
    const { rows } = await tx.query<Record<string, unknown>>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${text}`);
    const assumed = planOf(rows)['Plan Rows'];
    if (assumed > MAX_COUNTED_ROWS) continue;
    const counted = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${text} LIMIT ${assumed + 1}) AS s`);
    if (counted.rows[0].n > assumed) {
      throw new SqlRejectedError(
        `${call.name}() here makes more than ${assumed} rows, the number the planner assumes for it when it checks the ` +
          "query's cost; on the embedded database (PGlite), which cannot stop a running query, it may make no more. " +
          'Split the range, or run the query on a PostgreSQL server (DATABASE_URL).',
        { function: call.name, location: call.location, assumedRows: assumed },
      );
    }
  }
}

/**
 * Largest string repeat(), lpad() or rpad() may build on PGlite. A literal one is built again by
 * every EXPLAIN and by the cursor's planning: 1 MB held the database about 0.3 s per query.
 */
const MAX_BUILT_BYTES = 64 * 1024;

/**
 * The planner costs a function call the same whatever its arguments, so on PGlite the functions
 * whose work is set by a number (a length, a count of copies) would hide any amount of work:
 * `repeat(prompt, 100000)` for every row. They take literals only, with a bounded result; with
 * literal arguments the planner computes them once, before the query runs.
 */
function refuseHiddenWork(calls: FunctionCall[]): void {
  for (const call of calls) {
    if (call.name === 'array_fill') {
      throw new SqlRejectedError(
        'array_fill() is not allowed on the embedded database (PGlite): the planner cannot see how large an array it builds, ' +
          'and PGlite cannot stop a running query. Use ARRAY[...] or a PostgreSQL server (DATABASE_URL).',
        { function: call.name },
      );
    }
    if (call.name !== 'repeat' && call.name !== 'lpad' && call.name !== 'rpad') continue;
    // lpad and rpad cut or fill to the length given, whatever the text: only the length matters.
    const [text, count] = call.literals;
    const bytes =
      typeof count !== 'number' ? Infinity : call.name !== 'repeat' ? count * 4 : typeof text === 'string' ? Buffer.byteLength(text) * count : Infinity;
    if (bytes > MAX_BUILT_BYTES) {
      const what = call.name === 'repeat' ? 'a string literal and an integer literal' : 'an integer literal as its length';
      throw new SqlRejectedError(
        `${call.name}() takes ${what} here, for a result of at most ${MAX_BUILT_BYTES} bytes: ` +
          'on the embedded database (PGlite), which cannot stop a running query, the planner cannot see how much work it ' +
          'does otherwise. Use a PostgreSQL server (DATABASE_URL) for more.',
        { function: call.name, location: call.location },
      );
    }
  }
}

/** Largest factorial and exponent allowed on PGlite: factorial(1000) takes about 40 ms there. */
const MAX_FACTORIAL = 1000;
const MAX_EXPONENT = 1000;

/**
 * factorial() and numeric powers cost as much as the number of digits they make (factorial(20000)
 * took 5.5 s on PGlite, 2::numeric ^ 400000 3.9 s), and the planner costs them like any function;
 * with literal arguments it even computes them while planning, before any check could run. So on
 * PGlite they take literal arguments up to a bound, checked here on the parse tree alone.
 */
function refuseBigNumbers(stmt: CheckedStatement): void {
  const refuse = (what: string, max: number, location?: number) => {
    throw new SqlRejectedError(
      `${what} takes a number literal of at most ${max} here: on the embedded database (PGlite), which cannot stop a running ` +
        'query, its work grows with the size of the number it makes, and the planner cannot see that. Use a PostgreSQL server (DATABASE_URL) for more.',
      location === undefined ? {} : { location },
    );
  };
  for (const call of stmt.calls) {
    if (call.name === 'factorial') {
      const n = call.literals[0];
      if (typeof n !== 'number' || Math.abs(n) > MAX_FACTORIAL) refuse('factorial()', MAX_FACTORIAL, call.location);
    }
    if (call.name === 'power' || call.name === 'pow') {
      const exponent = call.literals[1];
      if (typeof exponent !== 'number' || Math.abs(exponent) > MAX_EXPONENT) refuse(`${call.name}()'s exponent`, MAX_EXPONENT, call.location);
    }
  }
  for (const exponent of stmt.exponents) {
    if (exponent === undefined || Math.abs(exponent) > MAX_EXPONENT) refuse("the exponent of ^", MAX_EXPONENT);
  }
}

/**
 * The text of one function call in `sql`, from its name to its closing parenthesis, skipping
 * strings, quoted names and comments. Parsed again to be sure it is that call and nothing more.
 */
async function callText(sql: string, stmt: CheckedStatement, call: SetReturningCall): Promise<string> {
  const bytes = Buffer.from(sql, 'utf8');
  const rest = bytes.subarray(call.location).toString('utf8');
  const end = closingParen(rest);
  const text = end === undefined ? undefined : rest.slice(0, end + 1);
  const tree = text === undefined ? undefined : await checkStatement(`SELECT * FROM ${text}`).catch(() => undefined);
  // Whatever it holds was checked in the whole statement already: the same call, no other function or operator.
  const same =
    tree !== undefined &&
    tree.calls[0]?.name === call.name &&
    tree.calls[0].location === 'SELECT * FROM '.length &&
    tree.functions.every((f) => stmt.functions.includes(f)) &&
    tree.operators.every((o) => stmt.operators.includes(o));
  if (!text || !same) {
    throw new SqlRejectedError(`could not count the rows of ${call.name}() before running the query; write it more plainly`, {
      function: call.name,
    });
  }
  return text;
}

/** Index of the parenthesis that closes the first one opened in `text`. */
function closingParen(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return i;
      if (depth < 0) return undefined;
    } else if (c === "'") {
      // E'...' strings escape with a backslash; the others only by doubling the quote.
      const escapes = /[eE]$/.test(text.slice(0, i)) && !/[\w$]$/.test(text.slice(0, i - 1));
      for (i++; i < text.length; i++) {
        if (escapes && text[i] === '\\') i++;
        else if (text[i] === "'" && text[i + 1] === "'") i++;
        else if (text[i] === "'") break;
      }
    } else if (c === '"') {
      for (i++; i < text.length && !(text[i] === '"' && text[i + 1] !== '"'); i++) if (text[i] === '"') i++;
    } else if (c === '-' && text[i + 1] === '-') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      let nested = 0;
      for (; i < text.length; i++) {
        if (text[i] === '/' && text[i + 1] === '*') (nested++, i++);
        else if (text[i] === '*' && text[i + 1] === '/') {
          i++;
          if (--nested === 0) break;
        }
      }
    } else if (c === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag && !/[\w$]$/.test(text.slice(0, i))) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        if (close < 0) return undefined;
        i = close + tag[0].length - 1;
      }
    }
  }
  return undefined;
}

function planOf(rows: Record<string, unknown>[]): { 'Total Cost': number; 'Plan Rows': number } {
  const value = Object.values(rows[0])[0];
  const plan = (typeof value === 'string' ? JSON.parse(value) : value) as { Plan: { 'Total Cost': number; 'Plan Rows': number } }[];
  return plan[0].Plan;
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
