/**
 * An upper bound on the rows a query's plan can touch, whatever its filters keep. On PGlite no
 * running query can be stopped, and the planner's cost is only as good as its guesses: a filter
 * such as `reward_score * 1 = reward_score` is guessed to keep 0.5% of the rows, so a join of
 * three such scans looks cheap and runs for hours. This bound trusts no selectivity guess. Each
 * scan may return its whole table; a join may return the product of its sides, unless a unique
 * key proves that one side matches at most one row (the planner's own "Inner Unique", or an
 * equality on a unique index of a plain scan); a nested loop repeats its inner side per outer row.
 */

/** One node of `EXPLAIN (FORMAT JSON)`. */
export interface PlanNode {
  'Node Type': string;
  'Plan Rows': number;
  'Parent Relationship'?: string;
  'Relation Name'?: string;
  Alias?: string;
  Strategy?: string;
  'Join Type'?: string;
  'Inner Unique'?: boolean;
  'Hash Cond'?: string;
  'Merge Cond'?: string;
  'Join Filter'?: string;
  'Index Cond'?: string;
  'Index Name'?: string;
  'Cache Key'?: string;
  'Subplan Name'?: string;
  'CTE Name'?: string;
  Plans?: PlanNode[];
}

/** What the bound needs to know about the tables in a plan. */
export interface TableFacts {
  /** Rows in each table (whole table, before any filter). */
  rows: ReadonlyMap<string, number>;
  /** Each table's unique keys: sets of column names, from unique indexes without predicate or expression. */
  uniqueKeys: ReadonlyMap<string, string[][]>;
}

export interface WorstCase {
  /** Most rows the node can return. */
  rows: number;
  /** Most rows the node and everything under it can touch, counting repetitions. */
  work: number;
}

/** Nodes that pass their one child's rows on, so a unique key of the child holds for them too. */
const PASS_THROUGH = new Set(['Hash', 'Materialize', 'Sort', 'Incremental Sort', 'Memoize', 'Result', 'Limit', 'Unique', 'Gather', 'Gather Merge']);
const SCANS = new Set(['Seq Scan', 'Index Scan', 'Index Only Scan', 'Bitmap Heap Scan', 'Tid Scan', 'Tid Range Scan', 'Sample Scan']);
const JOINS = new Set(['Nested Loop', 'Hash Join', 'Merge Join']);

/**
 * The bound for a whole plan (the `Plan` of EXPLAIN's JSON). `viewsOnly` says that every Subquery
 * Scan in the plan is a scoped view (`SELECT * FROM table WHERE ...`, column names unchanged), true
 * when the statement has no subquery in FROM and no WITH: then a key seen through such a view still
 * counts. A subquery of the caller's own could rename a column to `id`, so otherwise it does not.
 */
export function worstCase(plan: PlanNode, facts: TableFacts, viewsOnly = false): WorstCase {
  return new Bound(facts, viewsOnly).node(plan);
}

class Bound {
  private readonly ctes = new Map<string, WorstCase>();

  constructor(
    private readonly facts: TableFacts,
    private readonly viewsOnly: boolean,
  ) {}

  node(n: PlanNode): WorstCase {
    const children = n.Plans ?? [];
    // InitPlans run once; CTEs among them are read by the CTE Scans below, so they come first.
    let initWork = 0;
    for (const init of children.filter((c) => c['Parent Relationship'] === 'InitPlan')) {
      const bound = this.node(init);
      initWork += bound.work;
      const cte = /^CTE (.+)$/.exec(init['Subplan Name'] ?? '')?.[1];
      if (cte) this.ctes.set(cte, bound);
    }
    const own = this.own(n, children.filter((c) => !['InitPlan', 'SubPlan'].includes(c['Parent Relationship'] ?? '')));
    // A SubPlan (correlated subquery) may run once per row the node handles.
    let subWork = 0;
    for (const sub of children.filter((c) => c['Parent Relationship'] === 'SubPlan')) {
      subWork += mul(Math.max(own.rows, own.input), this.node(sub).work);
    }
    return { rows: own.rows, work: own.work + initWork + subWork };
  }

  /** The node without its InitPlans and SubPlans; `input` is the most rows it reads from its children. */
  private own(n: PlanNode, kids: PlanNode[]): WorstCase & { input: number } {
    const type = n['Node Type'];
    if (SCANS.has(type)) {
      const rows = this.tableRows(n);
      return { rows, work: rows, input: rows };
    }
    if (type === 'CTE Scan') {
      const cte = this.ctes.get(n['CTE Name'] ?? '');
      // An unknown CTE (never seen as an InitPlan) gets no benefit of the doubt.
      const rows = cte?.rows ?? Infinity;
      return { rows, work: rows, input: rows };
    }
    if (type === 'Function Scan' || type === 'Values Scan' || type === 'Table Function Scan' || (type === 'Result' && kids.length === 0)) {
      // Set-returning functions' sizes were checked against the planner's count before this.
      return { rows: n['Plan Rows'], work: n['Plan Rows'], input: 0 };
    }
    if (type === 'WorkTable Scan' || type === 'Recursive Union') return { rows: Infinity, work: Infinity, input: Infinity };
    if (JOINS.has(type) && kids.length === 2) return this.join(n, kids[0], kids[1]);

    const inner = kids.map((k) => this.node(k));
    const input = inner.reduce((s, b) => s + b.rows, 0);
    const work = inner.reduce((s, b) => s + b.work, 0) + input;
    if (type === 'Aggregate' && n.Strategy === 'Plain') return { rows: 1, work, input };
    if (type === 'Limit' && kids.length === 1 && n['Plan Rows'] < kids[0]['Plan Rows']) {
      // The planner's estimate for a Limit is min(count, its input's estimate): below the input's, it is the count.
      return { rows: Math.min(input, Math.ceil(n['Plan Rows'])), work, input };
    }
    if (type === 'ProjectSet' && kids.length === 1) {
      // Set-returning functions in the select list multiply each row by their (checked) row count.
      const factor = Math.max(1, n['Plan Rows'] / Math.max(1, kids[0]['Plan Rows']));
      const rows = mul(input, factor);
      return { rows, work: work + rows, input };
    }
    // Sorts, aggregates, windows, appends, set operations, subquery scans: at most what they read.
    return { rows: input, work, input };
  }

  private join(n: PlanNode, outerNode: PlanNode, innerNode: PlanNode): WorstCase & { input: number } {
    const outer = this.node(outerNode);
    const innerBound = this.node(innerNode);
    const type = n['Join Type'] ?? 'Inner';
    const pairs = equalities([n['Hash Cond'], n['Merge Cond'], n['Join Filter']]);
    // A nested loop's inner index scan that reads the outer row's values: its Index Cond equalities join too.
    const parameterized = n['Node Type'] === 'Nested Loop' && this.readsOuter(innerNode, outerNode);
    const innerScan = this.scanUnder(innerNode)?.scan;
    if (parameterized && innerScan?.['Index Cond'] && innerScan.Alias) {
      for (const [a, b] of equalities([innerScan['Index Cond']], innerScan.Alias)) pairs.push([a, b]);
    }
    const innerUnique = n['Inner Unique'] === true || this.uniqueOn(innerNode, pairs);
    const outerUnique = this.uniqueOn(outerNode, pairs);
    const innerTable = parameterized && innerScan ? this.tableRows(innerScan) : innerBound.rows;

    let rows: number;
    if (type === 'Semi' || type === 'Anti') rows = outer.rows;
    else if (type === 'Right Semi' || type === 'Right Anti') rows = innerTable;
    else if (innerUnique && outerUnique && type === 'Inner') rows = Math.min(outer.rows, innerTable);
    else if (innerUnique && (type === 'Inner' || type === 'Left')) rows = outer.rows;
    else if (outerUnique && (type === 'Inner' || type === 'Right')) rows = innerTable;
    else rows = mul(outer.rows, innerTable) + (type === 'Full' ? outer.rows + innerTable : 0);

    let work: number;
    if (n['Node Type'] !== 'Nested Loop') work = outer.work + innerBound.work + rows;
    else if (parameterized && (innerUnique || outerUnique)) {
      // Each probe finds at most one row, or each inner row is found by at most one probe.
      work = outer.work + outer.rows + rows + (innerUnique ? outer.rows : innerTable);
    } else work = outer.work + innerBound.work + mul(outer.rows, Math.max(1, innerBound.work));
    return { rows, work, input: outer.rows + innerTable };
  }

  /** Rows of a scan's table, or no bound for a table the facts do not know. */
  private tableRows(n: PlanNode): number {
    return this.facts.rows.get(n['Relation Name'] ?? '') ?? Infinity;
  }

  /**
   * Whether `side` returns each value of some unique key at most once, given the join's equalities:
   * `side` must be a single table's scan (under nodes that pass rows on), and the equalities must
   * cover one of that table's unique keys.
   */
  private uniqueOn(side: PlanNode, pairs: [Column, Column][]): boolean {
    const found = this.scanUnder(side);
    const table = found?.scan['Relation Name'];
    if (!found || !table) return false;
    const columns = new Set<string>();
    for (const [a, b] of pairs) {
      if (found.aliases.has(a.alias) && !found.aliases.has(b.alias)) columns.add(a.column);
      if (found.aliases.has(b.alias) && !found.aliases.has(a.alias)) columns.add(b.column);
    }
    const keys = this.facts.uniqueKeys.get(table) ?? [];
    return keys.some((key) => key.every((c) => columns.has(c)));
  }

  /**
   * The one scan under a chain of pass-through nodes (and scoped views, when they can be trusted),
   * if that is what `n` is, with the names the chain goes by.
   */
  private scanUnder(n: PlanNode): { scan: PlanNode; aliases: Set<string> } | undefined {
    const aliases = new Set<string>();
    let node = n;
    for (;;) {
      const kids = (node.Plans ?? []).filter((c) => c['Parent Relationship'] !== 'InitPlan');
      const view = this.viewsOnly && node['Node Type'] === 'Subquery Scan';
      if (kids.length !== 1 || !(PASS_THROUGH.has(node['Node Type']) || view)) break;
      if (view && node.Alias) aliases.add(node.Alias);
      node = kids[0];
    }
    if (!SCANS.has(node['Node Type'])) return undefined;
    if (node.Alias) aliases.add(node.Alias);
    return { scan: node, aliases };
  }

  /** Whether `inner` (a nested loop's inner side) reads values of the outer side's aliases. */
  private readsOuter(inner: PlanNode, outer: PlanNode): boolean {
    const aliases = aliasesIn(outer);
    const conds = textsIn(inner);
    return [...aliases].some((alias) => conds.some((text) => text.includes(`${alias}.`)));
  }
}

interface Column {
  alias: string;
  column: string;
}

function aliasesIn(n: PlanNode, into = new Set<string>()): Set<string> {
  if (n.Alias) into.add(n.Alias);
  for (const c of n.Plans ?? []) aliasesIn(c, into);
  return into;
}

function textsIn(n: PlanNode, into: string[] = []): string[] {
  for (const key of ['Index Cond', 'Filter', 'Recheck Cond', 'Cache Key', 'Join Filter', 'Hash Cond'] as const) {
    const text = (n as unknown as Record<string, unknown>)[key];
    if (typeof text === 'string') into.push(text);
  }
  for (const c of n.Plans ?? []) if (c['Parent Relationship'] !== 'InitPlan') textsIn(c, into);
  return into;
}

const NAME = '[a-z_][a-z0-9_$]*';
const EQUALITY = new RegExp(`^(?:(${NAME})\\.)?(${NAME}) = (?:(${NAME})\\.)?(${NAME})$`);

/**
 * The `a.x = b.y` equalities that are conjuncts at the top of the conditions: each must hold for
 * every row the join returns. Anything else (casts, ORs, functions, quoted names) is not used, which
 * only makes the bound larger. An unqualified column belongs to `self` (an Index Cond's own table).
 */
export function equalities(conditions: (string | undefined)[], self?: string): [Column, Column][] {
  const pairs: [Column, Column][] = [];
  for (const condition of conditions) {
    if (!condition) continue;
    for (const conjunct of topLevelConjuncts(condition)) {
      const m = EQUALITY.exec(conjunct);
      if (!m) continue;
      const left = { alias: m[1] ?? self, column: m[2] };
      const right = { alias: m[3] ?? self, column: m[4] };
      if (left.alias && right.alias) pairs.push([left as Column, right as Column]);
    }
  }
  return pairs;
}

/** `((a = b) AND (c = d))` -> ['a = b', 'c = d']; text inside quotes never splits. */
function topLevelConjuncts(text: string): string[] {
  const unwrapped = unwrap(text.trim());
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < unwrapped.length; i++) {
    const c = unwrapped[i];
    if (c === "'" || c === '"') {
      const close = unwrapped.indexOf(c, i + 1);
      if (close < 0) return [];
      i = close;
    } else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && unwrapped.startsWith(' AND ', i)) {
      parts.push(unwrap(unwrapped.slice(start, i).trim()));
      start = i + 5;
    }
  }
  parts.push(unwrap(unwrapped.slice(start).trim()));
  return parts;
}

/** Removes parentheses that enclose the whole text. */
function unwrap(text: string): string {
  let t = text;
  while (t.startsWith('(') && t.endsWith(')') && closes(t) === t.length - 1) t = t.slice(1, -1).trim();
  return t;
}

/** Index of the parenthesis that closes the one at 0 (quotes skipped), or -1. */
function closes(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) return -1;
      i = close;
    } else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i;
  }
  return -1;
}

/** a × b, where no rows times an unbounded table is no rows (0 × Infinity would be NaN). */
function mul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : a * b;
}
