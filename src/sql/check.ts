import { SqlRejectedError } from './errors.ts';

/**
 * The tables a gateway query may read. For a scoped key, the same names resolve to views that keep
 * only the key's agents (migration 003). api_keys, embedding_cache, index_outbox and the system
 * catalogs are out of reach.
 */
export const READABLE_TABLES = [
  'agents',
  'training_examples',
  'prompt_versions',
  'prompt_labels',
  'fine_tuning_runs',
  'run_examples',
  'audit_log',
] as const;

const READABLE = new Set<string>(READABLE_TABLES);

/** One statement that passed the parser checks. Its functions and operators still need the catalog check. */
export interface CheckedStatement {
  kind: 'select' | 'explain';
  /** The statement's own text, without a trailing semicolon or anything after it. */
  text: string;
  /** Names of the functions it calls (unqualified, as in pg_proc.proname). */
  functions: string[];
  /** Names of the operators it uses. */
  operators: string[];
  /** Whether it has a WITH RECURSIVE, whose running time PostgreSQL cannot estimate. */
  recursive: boolean;
  /** Every function call, for the embedded database's check of set-returning functions. */
  calls: FunctionCall[];
  /** Whether it has a subquery in FROM or a WITH: names the statement gives its own row sources. */
  subqueries: boolean;
  /** Whether it renames a table's columns (`FROM t AS a(x, y)`), so `a.id` may not be the table's id. */
  renamesColumns: boolean;
  /** The exponent of each `^`: its value when it is a plain number literal. */
  exponents: (number | undefined)[];
}

/** One function call in the statement. */
export interface FunctionCall {
  name: string;
  /** Byte offset of the call in the text given to checkStatement. */
  location: number;
  /**
   * Whether its arguments are the same for every row: no column, subquery, aggregate marker or
   * window. Functions called inside them are in `argFunctions`; one of those may still be an
   * aggregate, which only the catalog can tell.
   */
  constantArgs: boolean;
  argFunctions: string[];
  /** Each argument's value when it is a plain string or integer literal. */
  literals: (string | number | undefined)[];
}

// The parse tree is JSON: { NodeType: { field: value } }, node types in PascalCase.
type Node = Record<string, any>;

/** Why each kind of statement other than SELECT is refused. */
const REFUSED: Record<string, string> = {
  TransactionStmt: 'transaction control is not allowed: every query runs in its own read-only transaction, which is always rolled back',
  VariableSetStmt: 'SET and RESET are not allowed: they would change session settings (the role, the search path, the agent scope)',
  VariableShowStmt: 'SHOW is not allowed; use SELECT current_setting(...) instead',
  CopyStmt: 'COPY is not allowed: it reads and writes files and programs',
  DoStmt: 'DO is not allowed: it runs procedural code',
  CallStmt: 'CALL is not allowed: procedures may have side effects',
  InsertStmt: 'INSERT is not allowed: the gateway only reads',
  UpdateStmt: 'UPDATE is not allowed: the gateway only reads',
  DeleteStmt: 'DELETE is not allowed: the gateway only reads',
  MergeStmt: 'MERGE is not allowed: the gateway only reads',
  ListenStmt: 'LISTEN is not allowed',
  UnlistenStmt: 'UNLISTEN is not allowed',
  NotifyStmt: 'NOTIFY is not allowed: it sends messages to other sessions',
  PrepareStmt: 'PREPARE is not allowed: send the query itself',
  ExecuteStmt: 'EXECUTE is not allowed: send the query itself',
  DeallocateStmt: 'DEALLOCATE is not allowed',
  DeclareCursorStmt: 'DECLARE is not allowed: send the query itself; the gateway makes the cursor',
  FetchStmt: 'FETCH is not allowed: send the query itself',
  ClosePortalStmt: 'CLOSE is not allowed',
  LockStmt: 'LOCK is not allowed: the gateway takes no locks',
  VacuumStmt: 'VACUUM and ANALYZE are not allowed: they write',
  CheckPointStmt: 'CHECKPOINT is not allowed',
  LoadStmt: 'LOAD is not allowed: it loads server code',
  DiscardStmt: 'DISCARD is not allowed: it changes the session',
  CreateTableAsStmt: 'CREATE TABLE AS is not allowed: it writes a table',
};

const DATA_MODIFYING = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

function reject(message: string, details: Record<string, unknown> = {}): never {
  throw new SqlRejectedError(message, details);
}

/**
 * Parses `sql` with PostgreSQL's own parser (libpg_query) and checks that it is exactly one
 * read-only SELECT (or EXPLAIN without ANALYZE of one) that reads only the readable tables. Throws
 * a SqlRejectedError saying what was refused and why.
 */
export async function checkStatement(sql: string): Promise<CheckedStatement> {
  // The parser reads a C string, so it would stop at a NUL that a driver might still send on.
  if (sql.includes('\0')) reject('the query contains a NUL character');
  if (sql.trim() === '') reject('no SQL statement given');
  let tree: { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] };
  try {
    tree = await parse(sql);
  } catch (err) {
    const position = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    reject(`not valid SQL: ${(err as Error).message}`, position !== undefined ? { position } : {});
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length === 0) reject('no SQL statement given');
  if (stmts.length > 1) {
    const kinds = stmts.map((s) => statementName(s.stmt));
    reject(`only one statement is allowed, got ${stmts.length} (${kinds.join('; ')})`, { statements: kinds });
  }
  const { stmt, stmt_location: start = 0, stmt_len: length = 0 } = stmts[0];
  const [type, node] = Object.entries(stmt)[0] as [string, Node];
  let kind: CheckedStatement['kind'] = 'select';
  if (type === 'ExplainStmt') {
    kind = 'explain';
    const options: Node[] = (node.options ?? []).map((o: Node) => o.DefElem);
    if (options.some((o) => o.defname === 'analyze')) {
      reject('EXPLAIN ANALYZE is not allowed: it runs the statement; use EXPLAIN without ANALYZE');
    }
    const inner = Object.keys(node.query)[0];
    if (inner !== 'SelectStmt') reject(`EXPLAIN is only allowed for a SELECT, not for ${statementName(node.query)}`);
  } else if (type !== 'SelectStmt') {
    reject(REFUSED[type] ?? `${statementName(stmt)} is not allowed: only one SELECT (or EXPLAIN of a SELECT) runs here`, {
      statement: type,
    });
  }
  const walker = new TreeWalker();
  walker.walk(stmt, new Set());
  // Locations are byte offsets into the UTF-8 text; length 0 means "to the end".
  const bytes = Buffer.from(sql, 'utf8');
  const text = bytes.subarray(start, length ? start + length : undefined).toString('utf8');
  return {
    kind,
    text,
    functions: [...walker.functions],
    operators: [...walker.operators],
    recursive: walker.recursive,
    calls: walker.calls,
    subqueries: walker.subqueries,
    renamesColumns: walker.renamesColumns,
    exponents: walker.exponents,
  };
}

/** The types of the statements in `sql`, e.g. ['DeclareCursorStmt']; for checking text the gateway builds. */
export async function statementTypes(sql: string): Promise<string[]> {
  const tree: { stmts?: { stmt: Node }[] } = await parse(sql);
  return (tree.stmts ?? []).map((s) => Object.keys(s.stmt)[0]);
}

/** "COMMIT", "DROP", "SELECT": a short name for a statement node, for messages. */
function statementName(stmt: Node): string {
  const [type, node] = Object.entries(stmt)[0] as [string, Node];
  if (type === 'TransactionStmt') return String(node.kind).replace('TRANS_STMT_', '').replace('_', ' ');
  if (type === 'VariableSetStmt') return node.kind === 'VAR_RESET' || node.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
  const words = type.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2');
  return words.toUpperCase();
}

/** Walks the whole parse tree: every subquery, CTE, expression and FROM item. */
class TreeWalker {
  readonly functions = new Set<string>();
  readonly operators = new Set<string>();
  readonly calls: FunctionCall[] = [];
  recursive = false;
  subqueries = false;
  renamesColumns = false;
  readonly exponents: (number | undefined)[] = [];

  /** `ctes` holds the CTE names visible at this point of the query. */
  walk(value: unknown, ctes: ReadonlySet<string>): void {
    if (Array.isArray(value)) {
      for (const v of value) this.walk(v, ctes);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value as Node)) {
      if (key === 'SelectStmt') {
        this.select(child, ctes);
        continue;
      }
      if (DATA_MODIFYING.has(key)) {
        reject(`${key.replace('Stmt', '').toUpperCase()} is not allowed, not even inside WITH: the gateway only reads`);
      }
      if (key === 'RangeSubselect' || key === 'RangeFunction' || key === 'WithClause') this.subqueries = true;
      if (key === 'RangeVar') this.table(child, ctes);
      else if (key === 'FuncCall') this.func(child);
      else if (key === 'A_Expr') {
        this.operator(child.name);
        if (child.name?.length === 1 && child.name[0].String?.sval === '^') this.exponents.push(literalNumber(child.rexpr));
      }
      else if (key === 'SubLink' && child.operName) this.operator(child.operName);
      else if (key === 'SortBy' && child.useOp) this.operator(child.useOp);
      else if (key === 'ParamRef') reject('query parameters ($1, ...) are not supported: write the values into the query');
      else if (key === 'LockingClause') reject('FOR UPDATE and FOR SHARE are not allowed: they lock rows');
      this.walk(child, ctes);
    }
  }

  private select(stmt: Node, outer: ReadonlySet<string>): void {
    if (stmt.intoClause) reject('SELECT INTO is not allowed: it creates a table');
    const { withClause, ...rest } = stmt;
    let ctes = outer;
    if (withClause) {
      this.subqueries = true;
      const defs: Node[] = withClause.ctes.map((c: Node) => c.CommonTableExpr);
      const names: string[] = defs.map((d) => d.ctename);
      if (withClause.recursive) this.recursive = true;
      // A CTE's body sees the CTEs before it (all of them under RECURSIVE), never itself otherwise:
      // in `WITH api_keys AS (SELECT * FROM api_keys)` the inner name is the real table.
      defs.forEach((def, i) => this.walk(def, new Set([...outer, ...(withClause.recursive ? names : names.slice(0, i))])));
      ctes = new Set([...outer, ...names]);
    }
    // The branches of a UNION, INTERSECT or EXCEPT are SelectStmts without their wrapper; each may
    // have its own WITH, seen only inside it.
    const { larg, rarg, ...own } = rest;
    if (larg) this.select(larg, ctes);
    if (rarg) this.select(rarg, ctes);
    this.walk(own, ctes);
  }

  private table(rangeVar: Node, ctes: ReadonlySet<string>): void {
    const name: string = rangeVar.relname;
    if (rangeVar.alias?.colnames?.length) this.renamesColumns = true;
    const readable = `the readable tables are ${READABLE_TABLES.join(', ')}`;
    if (rangeVar.schemaname || rangeVar.catalogname) {
      const full = [rangeVar.catalogname, rangeVar.schemaname, name].filter(Boolean).join('.');
      reject(`table ${full} is not readable: names must not be schema-qualified; ${readable}`, { table: full });
    }
    if (!READABLE.has(name) && !ctes.has(name)) reject(`table ${name} is not readable here; ${readable}`, { table: name });
  }

  private func(call: Node): void {
    const parts: string[] = call.funcname.map((p: Node) => p.String.sval);
    const name = parts[parts.length - 1];
    // pg_catalog.x is how the parser itself spells SQL syntax such as EXTRACT; other schemas are off limits.
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'pg_catalog')) {
      reject(`function ${parts.join('.')}() is not allowed: function names must not be schema-qualified`);
    }
    this.functions.add(name);
    const argFunctions = new Set<string>();
    const constantArgs = !call.over && !call.agg_star && !call.agg_filter && !call.agg_order && isConstant(call.args ?? [], argFunctions);
    const literals = (call.args ?? []).map((arg: Node) => (arg.A_Const?.sval ? (arg.A_Const.sval.sval ?? '') : literalNumber(arg)));
    this.calls.push({ name, location: call.location ?? 0, constantArgs, argFunctions: [...argFunctions], literals });
  }

  private operator(nameParts: Node[] | undefined): void {
    if (!nameParts) return;
    const parts: string[] = nameParts.map((p) => p.String.sval);
    if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'pg_catalog')) {
      reject(`operator ${parts.join('.')} is not allowed: operator names must not be schema-qualified`);
    }
    this.operators.add(parts[parts.length - 1]);
  }
}

/** The value of a plain number literal (`2`, `-3`, `2.5`), or undefined for anything else. */
function literalNumber(node: Node | undefined): number | undefined {
  const value = node?.A_Const;
  if (!value) return undefined;
  if (value.ival) return value.ival.ival ?? 0; // protobuf JSON leaves a zero out
  if (value.fval) return Number(value.fval.fval);
  return undefined;
}

/**
 * Whether an expression has the same value for every row: nothing in it reads a column, runs a
 * subquery, aggregates (by syntax) or takes a parameter. Collects the functions it calls into `functions`.
 */
function isConstant(value: unknown, functions: Set<string>): boolean {
  if (Array.isArray(value)) return value.every((v) => isConstant(v, functions));
  if (value === null || typeof value !== 'object') return true;
  for (const [key, child] of Object.entries(value as Node)) {
    if (key === 'ColumnRef' || key === 'SubLink' || key === 'ParamRef' || key === 'GroupingFunc') return false;
    if (key === 'FuncCall') {
      if (child.over || child.agg_star || child.agg_filter || child.agg_order || child.agg_distinct) return false;
      functions.add(child.funcname[child.funcname.length - 1].String.sval);
    }
    if (!isConstant(child, functions)) return false;
  }
  return true;
}

// The parser is 1.2 MB of WASM: loaded on the first query, not by every command that imports the table names.
async function parse(sql: string) {
  const libpg = await import('libpg-query');
  return libpg.parse(sql);
}
