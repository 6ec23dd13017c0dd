import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlTimeoutError } from '../../src/sql/errors.ts';
import { runReadOnlySql, type RunSqlOptions, type SqlScope } from '../../src/sql/gateway.ts';
import { equalities, worstCase, type PlanNode, type TableFacts } from '../../src/sql/worst-case.ts';
import { ACTOR, openTestApp, TEST_DB, type TestEnv } from '../support/app.ts';

const facts: TableFacts = {
  rows: new Map([
    ['training_examples', 10_000],
    ['run_examples', 50_000],
    ['fine_tuning_runs', 100],
    ['agents', 5],
  ]),
  uniqueKeys: new Map([
    ['training_examples', [['id']]],
    ['fine_tuning_runs', [['id']]],
    ['run_examples', [['run_id', 'example_id']]],
    ['agents', [['id'], ['name']]],
  ]),
};

const scan = (table: string, alias: string, extra: Partial<PlanNode> = {}): PlanNode => ({
  'Node Type': 'Seq Scan',
  'Plan Rows': 1,
  'Relation Name': table,
  Alias: alias,
  ...extra,
});
const join = (type: string, outer: PlanNode, inner: PlanNode, extra: Partial<PlanNode> = {}): PlanNode => ({
  'Node Type': type,
  'Plan Rows': 1,
  'Join Type': 'Inner',
  Plans: [
    { ...outer, 'Parent Relationship': 'Outer' },
    { ...inner, 'Parent Relationship': 'Inner' },
  ],
  ...extra,
});
const hash = (child: PlanNode): PlanNode => ({ 'Node Type': 'Hash', 'Plan Rows': 1, Plans: [{ ...child, 'Parent Relationship': 'Outer' }] });

describe('worstCase: a bound that trusts no filter estimate', () => {
  it('counts a cross join of filtered scans as every pair, whatever the planner guessed', () => {
    // The freeze: three scans the planner guessed at 25 rows each.
    const filtered = (alias: string) => scan('training_examples', alias, { 'Plan Rows': 25, Filter: '((reward_score * 1) = reward_score)' } as Partial<PlanNode>);
    const materialize = (child: PlanNode): PlanNode => ({ 'Node Type': 'Materialize', 'Plan Rows': 25, Plans: [{ ...child, 'Parent Relationship': 'Outer' }] });
    const plan = join('Nested Loop', join('Nested Loop', filtered('x'), materialize(filtered('y'))), materialize(filtered('z')));
    expect(worstCase(plan, facts).rows).toBe(1e12);
    expect(worstCase(plan, facts).work).toBeGreaterThan(1e12);
  });

  it('bounds a join on a unique key by the other side', () => {
    // run_examples re JOIN training_examples e ON re.example_id = e.id: each re row finds one e row.
    const plan = join('Hash Join', scan('run_examples', 're'), hash(scan('training_examples', 'e')), { 'Hash Cond': '(re.example_id = e.id)' });
    // Work: the scan of re, the scan of e and its hash table, and the rows out.
    expect(worstCase(plan, facts)).toEqual({ rows: 50_000, work: 50_000 + 2 * 10_000 + 50_000 });
    // The planner's own proof counts the same.
    const proven = join('Hash Join', scan('run_examples', 're'), hash(scan('training_examples', 'e')), { 'Inner Unique': true, 'Hash Cond': '(re.x = e.y)' });
    expect(worstCase(proven, facts).rows).toBe(50_000);
    // Unique on the outer side: each inner row finds at most one outer row.
    const flipped = join('Hash Join', scan('training_examples', 'e'), hash(scan('run_examples', 're')), { 'Hash Cond': '(e.id = re.example_id)' });
    expect(worstCase(flipped, facts).rows).toBe(50_000);
  });

  it('does not take a unique key through a cast, an OR, a non-key column or half a composite key', () => {
    const product = 10_000 * 50_000;
    for (const cond of ['((re.example_id)::text = (e.id)::text)', '((re.example_id = e.id) OR (re.run_id = e.id))', '(re.example_id = e.agent_id)']) {
      const plan = join('Hash Join', scan('run_examples', 're'), hash(scan('training_examples', 'e')), { 'Hash Cond': cond });
      expect(worstCase(plan, facts).rows, cond).toBe(product);
    }
    const half = join('Hash Join', scan('training_examples', 'e'), hash(scan('run_examples', 're')), { 'Hash Cond': '(e.agent_id = re.run_id)' });
    expect(worstCase(half, facts).rows).toBe(product);
    const whole = join('Hash Join', scan('training_examples', 'e'), hash(scan('run_examples', 're')), {
      'Hash Cond': '((e.id = re.example_id) AND (e.agent_id = re.run_id))',
    });
    // Both sides are unique on it: the smaller side bounds it.
    expect(worstCase(whole, facts).rows).toBe(10_000);
  });

  it('counts a nested loop over an index lookup by the key, and a rescanned inner side per outer row', () => {
    const lookup = { 'Node Type': 'Index Scan', 'Plan Rows': 1, 'Relation Name': 'training_examples', Alias: 'e', 'Index Name': 'training_examples_pkey', 'Index Cond': '(id = re.example_id)' };
    const plan = join('Nested Loop', scan('run_examples', 're'), lookup);
    expect(worstCase(plan, facts).rows).toBe(50_000);
    expect(worstCase(plan, facts).work).toBeLessThan(500_000);
    // Parameterized by a non-unique column (each run has many examples): every probe may find the whole table.
    const byAgent = { ...lookup, 'Index Cond': '(agent_id = r.agent_id)' };
    expect(worstCase(join('Nested Loop', scan('fine_tuning_runs', 'r'), byAgent), facts).rows).toBe(100 * 10_000);
  });

  it('multiplies a correlated subquery by the rows it runs for', () => {
    const sub: PlanNode = { 'Node Type': 'Aggregate', 'Plan Rows': 1, Strategy: 'Plain', 'Parent Relationship': 'SubPlan', Plans: [{ ...scan('training_examples', 'b'), 'Parent Relationship': 'Outer' }] };
    const plan: PlanNode = { ...scan('training_examples', 'a'), Plans: [sub] };
    expect(worstCase(plan, facts).work).toBeGreaterThanOrEqual(10_000 * 10_000);
  });

  it('reads conjuncts only at the top of a condition', () => {
    expect(equalities(['((a.id = b.x) AND (c.y = b.z))'])).toEqual([
      [{ alias: 'a', column: 'id' }, { alias: 'b', column: 'x' }],
      [{ alias: 'c', column: 'y' }, { alias: 'b', column: 'z' }],
    ]);
    expect(equalities(['(((a.id = b.x) AND (q.r = 1)) OR (c.y = d.z))'])).toEqual([]);
    expect(equalities(["((a.id = b.x) AND (a.note = ') AND (c.y = d.z'))"])).toEqual([[{ alias: 'a', column: 'id' }, { alias: 'b', column: 'x' }]]);
    expect(equalities(['(id = re.example_id)'], 'e')).toEqual([[{ alias: 'e', column: 'id' }, { alias: 're', column: 'example_id' }]]);
  });
});

describe.runIf(TEST_DB === 'pglite')('on PGlite, a join the planner underestimates is refused before it runs', () => {
  let t: TestEnv;
  let agentId: string;
  const ROWS = 3000;
  const run = (sql: string, agentIds: SqlScope = 'all', extra: Omit<RunSqlOptions, 'agentIds'> = {}) => runReadOnlySql(t.app.db, sql, { agentIds, ...extra });

  beforeAll(async () => {
    t = await openTestApp();
    agentId = (await t.app.agents.create({ name: 'wide' }, ACTOR)).id;
    await t.app.db.query(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
       SELECT $1, 'prompt ' || g, 'completion ' || g, (g % 100) / 100.0, CASE WHEN g % 3 = 0 THEN 'negative' ELSE 'positive' END
         FROM generate_series(1, ${ROWS}) g`,
      [agentId],
    );
    const runId = (
      await t.app.db.query<{ id: string }>(
        `INSERT INTO fine_tuning_runs (agent_id, backend, base_model, dataset_format) VALUES ($1, 'openai', 'm', 'openai-chat') RETURNING id`,
        [agentId],
      )
    ).rows[0].id;
    await t.app.db.query(`INSERT INTO run_examples (run_id, example_id, content_hash) SELECT $1, id, 'h' FROM training_examples WHERE agent_id = $2`, [runId, agentId]);
  });
  afterAll(() => t.close());

  // With a 5 s budget the planner's cost passes these (it guesses each filter keeps 0.5% of the rows).
  const roomy = { embeddedMaxMs: 5000 };
  const underestimated = [
    // Each takes minutes to hours on PGlite's one thread, and nothing can stop it once it starts.
    'SELECT count(*) FROM training_examples x, training_examples y, training_examples z WHERE x.reward_score * 1 = x.reward_score AND y.reward_score * 1 = y.reward_score AND z.reward_score * 1 = z.reward_score',
    'SELECT count(*) FROM training_examples a JOIN training_examples b ON a.example_type = b.example_type',
  ];
  // A key seen through a name the statement chose may not be the key: `id` here is every row's agent_id.
  const disguised = [
    'SELECT count(*) FROM training_examples AS a(x, id) JOIN training_examples AS b(y, id) ON a.id = b.id',
    'SELECT count(*) FROM (SELECT agent_id AS id FROM training_examples OFFSET 0) a JOIN (SELECT agent_id AS id FROM training_examples OFFSET 0) b ON a.id = b.id',
  ];
  it.each(disguised)('does not take a renamed column for a key: %s', async (sql) => {
    for (const scope of ['all', [agentId]] as SqlScope[]) {
      const err = await run(sql, scope, { embeddedMaxMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SqlTimeoutError);
    }
  });

  it.each(underestimated)('refuses %s, for every scope, at once', async (sql) => {
    for (const scope of ['all', [agentId]] as SqlScope[]) {
      const started = performance.now();
      const err = await run(sql, scope, roomy).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SqlTimeoutError);
      expect((err as Error).message).toMatch(/could touch .* in the worst case, more than fit in 5000 ms.*unless a unique column \(such as id\) joins it/);
      // A scoped key is not told a count that includes other agents' rows.
      if (scope !== 'all') expect((err as Error).message).not.toMatch(/\d,\d{3}/);
      expect(performance.now() - started).toBeLessThan(3000);
    }
  });

  it('runs joins on keys, which cannot multiply rows', async () => {
    for (const scope of ['all', [agentId]] as SqlScope[]) {
      const runs = await run(
        'SELECT count(*)::int AS n FROM training_examples e JOIN run_examples re ON re.example_id = e.id JOIN fine_tuning_runs r ON r.id = re.run_id',
        scope,
        roomy,
      );
      expect(runs.rows).toEqual([{ n: ROWS }]);
      const byAgent = await run('SELECT a.name, count(*)::int AS n FROM training_examples e JOIN agents a ON a.id = e.agent_id GROUP BY 1', scope, roomy);
      expect(byAgent.rows).toEqual([{ name: 'wide', n: ROWS }]);
    }
  });
});
