import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { hnswName, hybridQuery, PgvectorIndex } from '../../src/indexing/pgvector-index.ts';
import { loadConfig } from '../../src/config/config.ts';
import { migrate } from '../../src/db/migrate.ts';
import { Exemplar } from '../../src/exemplar.ts';
import { startHttpServer } from '../../src/http/server.ts';
import { searchExamples } from '../../src/operations/retrieval.ts';
import { hybridScore } from '../../src/vectors/vector-table.ts';
import { ACTOR, openTestApp, TEST_DATABASE_URL, TEST_DB, type TestEnv } from '../support/app.ts';
import { databaseHasPgvector } from '../support/pgvector.ts';

const HAS_PGVECTOR = await databaseHasPgvector();
const DIMS = 384; // hashing-v2, the default model
const MODEL = 'hashing-v2';

/** A deterministic PRNG, so every run builds the same vectors. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/**
 * A unit vector whose cosine with the query (the first axis) is exactly `s`. The rest lies in a few
 * dimensions, so HNSW's graph finds its way (random 384-d directions would make recall the test).
 */
function vectorAt(s: number, rand: () => number): number[] {
  const v = new Array<number>(DIMS).fill(0);
  const rest = Array.from({ length: 6 }, () => rand() - 0.5);
  const norm = Math.hypot(...rest);
  v[0] = s;
  rest.forEach((x, i) => (v[1 + i] = (x / norm) * Math.sqrt(1 - s * s)));
  return v;
}
const QUERY = Float32Array.from({ length: DIMS }, (_, i) => (i === 0 ? 1 : 0));

describe.skipIf(!HAS_PGVECTOR)('pgvector search: HNSW over the hybrid vector', () => {
  let t: TestEnv;
  let index: PgvectorIndex;
  beforeAll(async () => {
    // Every filter passes more than 0 rows, so every search goes to HNSW first; a small ef_search keeps M small.
    t = await openTestApp({ vectorBackend: 'pgvector', pgvectorExactMaxRows: 0, pgvectorEfSearch: 10 });
    index = t.app.index as PgvectorIndex;
  });
  afterAll(() => t.close());

  /** An agent of `rows.length` examples whose vectors and rewards are exactly the given ones. */
  async function agentWith(name: string, rows: { similarity: number; reward: number; type?: 'positive' | 'negative' }[]) {
    const rand = rng(name.length * 7919);
    const agent = await t.app.agents.create({ name }, ACTOR);
    await t.app.examples.addMany(
      name,
      rows.map((r, i) => ({ prompt: `${name} example ${i}`, completion: 'c', rewardScore: r.reward, exampleType: r.type ?? 'positive', metadata: {} })),
      ACTOR,
    );
    // The vectors go in directly, with the examples' content hashes, so no sync re-embeds them.
    await index.ensureHnsw(MODEL, DIMS);
    const { rows: ids } = await t.app.db.query<{ id: string; n: number }>(
      `SELECT id::text, substring(prompt from ' (\\d+)$')::int AS n FROM training_examples WHERE agent_id = $1`,
      [agent.id],
    );
    const vectors = ids.map((r) => `[${vectorAt(rows[r.n].similarity, rand).join(',')}]`);
    await t.app.db.query(
      `INSERT INTO example_vectors (example_id, agent_id, model, content_hash, embedding)
       SELECT e.id, e.agent_id, $3, left(e.content_hash, 16), u.v::vector
         FROM unnest($1::uuid[], $2::text[]) AS u(id, v) JOIN training_examples e ON e.id = u.id`,
      [ids.map((r) => r.id), vectors, MODEL],
    );
    const ref = await t.app.agents.resolve(name);
    return {
      ref,
      /** The exact answer: every row that passes, ranked by α·s + β·r, ties by id. */
      oracle(k: number, minReward: number, alpha = 0.6, beta = 0.4) {
        return ids
          .map((r) => ({ id: r.id, reward: rows[r.n].reward, h: hybridScore(rows[r.n].similarity, rows[r.n].reward, alpha, beta) }))
          .filter((r) => r.reward >= minReward)
          .sort((a, b) => b.h - a.h || (a.id < b.id ? -1 : 1))
          .slice(0, k)
          .map((r) => r.id);
      },
    };
  }

  it('has one HNSW index for the model, over the hybrid vector (D + 2 dimensions, half precision)', async () => {
    await agentWith('plan', Array.from({ length: 50 }, (_, i) => ({ similarity: i / 100, reward: 1 })));
    const { rows } = await t.app.db.query<{ def: string }>('SELECT indexdef AS def FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()', [hnswName(MODEL)]);
    expect(rows).toHaveLength(1);
    expect(rows[0].def).toMatch(/USING hnsw \(.*l2_normalize\(embedding\).*reward_score.*::halfvec\(386\)\) halfvec_cosine_ops\) WITH \(m='16', ef_construction='64'\) WHERE \(model = 'hashing-v2'::text\)/);
  });

  it('builds a new index with the configured m and ef_construction, and refuses values pgvector would', async () => {
    const tuned = new PgvectorIndex(t.app.db, t.app.agents, (s) => t.app.memoryIndex.embedder(s), () => t.app.memoryIndex.cacheStats(), { exactMaxRows: 0, efSearch: 10, hnswM: 24, hnswEfConstruction: 100 });
    await tuned.ensureHnsw('openai:tuned@8', 8);
    const { rows } = await t.app.db.query<{ def: string }>('SELECT indexdef AS def FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()', [hnswName('openai:tuned@8')]);
    expect(rows[0].def).toMatch(/WITH \(m='24', ef_construction='100'\)/);
    expect(loadConfig({ EXEMPLAR_PGVECTOR_HNSW_M: '24', EXEMPLAR_PGVECTOR_HNSW_EF_CONSTRUCTION: '128' })).toMatchObject({ pgvectorHnswM: 24, pgvectorHnswEfConstruction: 128 });
    expect(loadConfig({})).toMatchObject({ pgvectorHnswM: 16, pgvectorHnswEfConstruction: 64 });
    expect(() => loadConfig({ EXEMPLAR_PGVECTOR_HNSW_M: '1' })).toThrow(/between 2 and 100/);
    expect(() => loadConfig({ EXEMPLAR_PGVECTOR_HNSW_M: '40' })).toThrow(/between 2 × m \(80\) and 1000/);
  });

  it('makes no HNSW index past pgvector\'s 4,000 dimensions (the hybrid vector has two more): such a model is scanned exactly', async () => {
    for (const dims of [3999, 5000]) {
      await index.ensureHnsw(`openai:huge@${dims}`, dims);
      const { rows } = await t.app.db.query('SELECT 1 FROM pg_indexes WHERE indexname = $1 AND schemaname = current_schema()', [hnswName(`openai:huge@${dims}`)]);
      expect(rows).toHaveLength(0);
    }
  });

  it('orders by the hybrid score in the index itself: the cosine of the hybrid vectors follows α·cosine + β·reward', async () => {
    const q = hybridQuery(QUERY, 0.6, 0.4);
    const { rows } = await t.app.db.query<{ s: number; r: number; c: number }>(
      `SELECT s::float8 AS s, r::float8 AS r, 1 - ((l2_normalize(e) || ARRAY[r, sqrt(greatest(0, 2 - vector_norm(l2_normalize(e))^2 - r^2))]::vector) <=> $1::vector) AS c
         FROM (VALUES (0.9::float8, 0.5::float8), (0.0, 0.7)) AS x(s, r),
              LATERAL (SELECT CASE WHEN x.s = 0 THEN array_fill(0, ARRAY[${DIMS}])::vector ELSE $2::vector END AS e) v`,
      [`[${Array.from(q).join(',')}]`, `[${vectorAt(0.9, rng(1)).join(',')}]`],
    );
    // Cosine with a fixed query vector, scaled by 1/(√2·|q|) for every row alike (the zero embedding included).
    const scale = 1 / (Math.SQRT2 * Math.hypot(0.6, 0.4));
    expect(rows.find((r) => r.s === 0.9 && r.r === 0.5)!.c).toBeCloseTo((0.6 * 0.9 + 0.4 * 0.5) * scale, 5);
    expect(rows.find((r) => r.s === 0 && r.r === 0.7)!.c).toBeCloseTo(0.4 * 0.7 * scale, 5);
  });

  it('finds the hybrid top k through HNSW, where reward decides as much as similarity', async () => {
    const rand = rng(1);
    // 30 rows near the query with rewards spread, 270 far; the top 5 mix near-and-rewarded rows.
    const rows = Array.from({ length: 300 }, (_, i) => (i < 30 ? { similarity: 0.8 + i / 200, reward: 0.5 + ((i * 7) % 30) / 60 } : { similarity: rand() * 0.3, reward: 0.5 + rand() / 2 }));
    const a = await agentWith('clear', rows);
    const got = await index.propose(a.ref, QUERY, 5, { minReward: 0.5, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'hnsw', reason: expect.stringMatching(/approximate/) });
    expect(got.map((p) => p.id)).toEqual(a.oracle(5, 0.5));
    // Similarity is the full-precision one, not the index's half precision.
    const best = got[0];
    expect(best.hybrid).toBeCloseTo(0.6 * best.similarity + 0.4 * best.reward, 10);
    // Lowest reward first (β < 0, the most instructive negatives) uses the same index.
    const low = await index.propose(a.ref, QUERY, 5, { minReward: 0.5, types: ['positive'], alpha: 0.6, beta: -0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'hnsw' });
    expect(low.map((p) => p.id)).toEqual(a.oracle(5, 0.5, 0.6, -0.4));
  });

  it('says so in the search result when HNSW answered (service, REST and the CLI summary), and exact otherwise', async () => {
    // Agent 'clear' from the test above: 300 rows, all passing minScore 0.5, so HNSW answers.
    const q = { agentId: 'clear', query: 'clear example', minScore: 0.5, topK: 5, exampleType: 'positive' as const };
    const r = await t.app.hybridRetrieveBestExamples(q);
    expect(r.results).toHaveLength(5);
    expect(r).toMatchObject({ exact: false, plan: expect.stringMatching(/^approximate \(HNSW\): pgvector, ef_search \d+/) });
    expect(searchExamples.cli!.summary!(r)).toMatch(/^5 results, approximate \(HNSW\)/);
    // A filter only SQL can evaluate scores the given rows exactly; no query ranks by reward in SQL.
    expect(await t.app.hybridRetrieveBestExamples({ ...q, contains: 'example' })).toMatchObject({ exact: true });
    const byReward = await t.app.hybridRetrieveBestExamples({ agentId: 'clear', topK: 3 });
    expect(byReward.exact).toBe(true);
    expect(byReward.plan).toBeUndefined();
    expect(searchExamples.cli!.summary!(byReward)).toBe('3 results, exact.');
    // Relevance measured over HNSW answers says how many searches were approximate.
    const evaluated = await t.app.relevance.evaluate('clear', [{ query: q.query, minScore: 0.5, exampleType: 'positive', relevant: [r.results[0].id] }], [{ similarityWeight: 0.6, scoreWeight: 0.4 }]);
    expect(evaluated.approximateSearches).toBe(1);
    const key = (await t.app.apiKeys.create({ scopes: ['admin'] }, ACTOR)).key;
    const server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0, log: () => {} });
    try {
      const res = await fetch(`${server.url}/v1/agents/clear/search`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: q.query, minScore: 0.5, topK: 5, exampleType: 'positive' }),
      });
      expect(await res.json()).toMatchObject({ exact: false, plan: expect.stringMatching(/HNSW/) });
    } finally {
      await server.close();
    }
  });

  it('returns k rows under a selective filter (iterative scan), and the exact scan when too few rows pass', async () => {
    const rand = rng(4);
    // 1 row in 10 passes reward >= 0.9; ef_search alone (10) would find about one of them.
    const rows = Array.from({ length: 300 }, (_, i) => ({ similarity: rand() * 0.9, reward: i % 10 === 0 ? 1 : 0.6 }));
    const a = await agentWith('selective', rows);
    const got = await index.propose(a.ref, QUERY, 5, { minReward: 0.9, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'hnsw' });
    expect(got.map((p) => p.id)).toEqual(a.oracle(5, 0.9));
    // Asked for more than pass the filter (30 rows pass): HNSW cannot tell what it missed.
    const many = await index.propose(a.ref, QUERY, 50, { minReward: 0.9, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'exact' });
    expect(index.lastPlan!.reason).toMatch(/HNSW found 30 of 50 rows/);
    expect(many.map((p) => p.id)).toEqual(a.oracle(50, 0.9));
  });

  it('keeps the reward and type beside each vector current: an update through any client moves the row in the index', async () => {
    const a = await t.app.agents.resolve('selective');
    const [id] = a ? (await t.app.db.query<{ id: string }>(`SELECT id::text FROM training_examples WHERE agent_id = $1 AND reward_score = 0.6 ORDER BY id LIMIT 1`, [a.id])).rows.map((r) => r.id) : [];
    // psql raises its reward past the filter, then another row leaves the filter by type.
    await t.app.db.query('UPDATE training_examples SET reward_score = 1 WHERE id = $1', [id]);
    const got = await index.propose(a, QUERY, 50, { minReward: 0.9, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(got.map((p) => p.id)).toContain(id);
    expect((await t.app.db.query('SELECT reward_score AS r FROM example_vectors WHERE example_id = $1', [id])).rows[0]).toEqual({ r: 1 });
    await t.app.db.query(`UPDATE training_examples SET example_type = 'negative' WHERE id = $1`, [id]);
    const again = await index.propose(a, QUERY, 5, { minReward: 0.9, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'hnsw' });
    expect(again.map((p) => p.id)).not.toContain(id);
    expect((await t.app.db.query('SELECT example_type AS t FROM example_vectors WHERE example_id = $1', [id])).rows[0]).toEqual({ t: 'negative' });
  });

  it('goes straight to the exact scan for a filter that passes few rows, and for a query without direction', async () => {
    const exactFirst = new PgvectorIndex(t.app.db, t.app.agents, (s) => t.app.memoryIndex.embedder(s), () => t.app.memoryIndex.cacheStats(), { exactMaxRows: 100, efSearch: 10 });
    const a = await t.app.agents.resolve('selective');
    await exactFirst.propose(a, QUERY, 5, { minReward: 0.9, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(exactFirst.lastPlan).toMatchObject({ mode: 'exact', reason: expect.stringMatching(/the filter passes about 3\d rows/) });
    await exactFirst.propose(a, QUERY, 5, { minReward: 0.5, types: ['positive'], alpha: 0.6, beta: 0.4 });
    expect(exactFirst.lastPlan).toMatchObject({ mode: 'hnsw' });
    await exactFirst.propose(a, new Float32Array(DIMS), 5, { minReward: 0.5, alpha: 0.6, beta: 0.4 });
    expect(exactFirst.lastPlan).toMatchObject({ mode: 'exact', reason: 'the query has no direction' });
  });

  it('ranks a zero vector at similarity 0, not first (NaN sorts above every number in SQL), in the exact scan and in HNSW', async () => {
    const a = await agentWith('zero', [{ similarity: 0.9, reward: 0.5 }, { similarity: 0.2, reward: 0.5 }, { similarity: 0.1, reward: 0.5 }]);
    const [zeroId] = (await t.app.db.query<{ id: string }>(`SELECT id::text FROM training_examples WHERE agent_id = $1 AND prompt LIKE '% 2'`, [a.ref.id])).rows.map((r) => r.id);
    await t.app.db.query(`UPDATE example_vectors SET embedding = array_fill(0, ARRAY[${DIMS}])::vector WHERE example_id = $1`, [zeroId]);
    const got = await index.propose(a.ref, QUERY, 2, { minReward: 0, alpha: 0.6, beta: 0.4 });
    expect(index.lastPlan).toMatchObject({ mode: 'hnsw' }); // the hybrid vector of a zero embedding has a direction: [0, r, sqrt(2 - r²)]
    expect(got.map((p) => p.similarity)).toEqual([expect.closeTo(0.9, 5), expect.closeTo(0.2, 5)]);
    const all = await index.propose(a.ref, QUERY, 3, { minReward: 0, alpha: 0.6, beta: 0.4 });
    expect(all[2]).toMatchObject({ id: zeroId, similarity: 0 });
    const exactly = new PgvectorIndex(t.app.db, t.app.agents, (s) => t.app.memoryIndex.embedder(s), () => t.app.memoryIndex.cacheStats());
    const exact = await exactly.propose(a.ref, QUERY, 3, { minReward: 0, alpha: 0.6, beta: 0.4 });
    expect(exactly.lastPlan).toMatchObject({ mode: 'exact' });
    expect(exact.map((p) => p.id)).toEqual(all.map((p) => p.id));
  });
});

describe.skipIf(!HAS_PGVECTOR)('pgvector and the shared feed\'s pruning', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = await openTestApp({ vectorBackend: 'pgvector' });
  });
  afterAll(() => t.close());

  const outbox = async (agentId: string) =>
    (await t.app.db.query<{ prompt: string }>(
      'SELECT e.prompt FROM index_outbox o LEFT JOIN training_examples e ON e.id = o.example_id WHERE o.agent_id = $1 ORDER BY o.id',
      [agentId],
    )).rows.map((r) => r.prompt);
  const txidOf = async (prompt: string) =>
    (await t.app.db.query<{ txid: string }>(
      'SELECT o.txid::text FROM index_outbox o JOIN training_examples e ON e.id = o.example_id WHERE e.prompt = $1',
      [prompt],
    )).rows[0].txid;
  const search = async (agentId: string, query: string) =>
    (await t.app.hybridRetrieveBestExamples({ agentId, query, topK: 1 })).results[0]?.input;
  const ex = (prompt: string) => ({ prompt, completion: 'c', rewardScore: 0.9, exampleType: 'positive' as const });

  it('holds an agent\'s rows at its pgvector position, as a live consumer holds them, and reconciles once they are pruned anyway', async () => {
    const agent = await t.app.agents.create({ name: 'held' }, ACTOR);
    await t.app.examples.add('held', ex('one'), ACTOR);
    await t.app.examples.add('held', ex('two'), ACTOR);
    expect(await search('held', 'two')).toBe('two');
    // The position just past `one` (the horizon also waits for transactions open anywhere on the server).
    await t.app.db.query('UPDATE example_vectors_feed SET position = $2::xid8 WHERE agent_id = $1', [agent.id, await txidOf('two')]);
    // A live memory consumer further back holds both...
    await t.app.db.query(`INSERT INTO index_consumers (id, host, pid, role, position) VALUES ('back', 'h', 1, 'serve', $1::xid8)`, [await txidOf('one')]);
    await t.app.memoryIndex.feed.prune();
    expect(await outbox(agent.id)).toEqual(['one', 'two']);
    // ...and without it, the pgvector position still holds what it has not passed.
    await t.app.db.query(`DELETE FROM index_consumers`);
    await t.app.memoryIndex.feed.prune();
    expect(await outbox(agent.id)).toEqual(['two']);

    // Past retention, rows go even though the position has not passed them...
    await t.app.db.query(`INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, 'three by psql', 'c', 0.9, 'positive')`, [agent.id]);
    await t.app.db.query(`UPDATE index_outbox SET queued_at = now() - interval '2 days' WHERE agent_id = $1`, [agent.id]);
    await t.app.memoryIndex.feed.prune();
    expect(await outbox(agent.id)).toEqual([]);
    const { rows: marks } = await t.app.db.query<{ ok: boolean }>(
      'SELECT pruned_through >= $2::xid8 AS ok FROM index_feed_pruned WHERE agent_id = $1',
      [agent.id, await t.app.db.query<{ p: string }>('SELECT position::text AS p FROM example_vectors_feed WHERE agent_id = $1', [agent.id]).then((r) => r.rows[0].p)],
    );
    expect(marks).toEqual([{ ok: true }]);
    // ...and the agent's mark, above its position, sends its next search to the table: no feed row is left to say so.
    expect(await search('held', 'three by psql')).toBe('three by psql');
  });

  it('compares only the agents whose rows were pruned with the table, not every agent below some mark', async () => {
    const big = await t.app.agents.create({ name: 'big' }, ACTOR);
    const busy = await t.app.agents.create({ name: 'busy' }, ACTOR);
    await t.app.examples.add('big', ex('big one'), ACTOR);
    expect(await search('big', 'big one')).toBe('big one');
    await t.app.examples.add('busy', ex('busy one'), ACTOR);
    await t.app.db.query(`UPDATE index_outbox SET queued_at = now() - interval '2 days' WHERE agent_id = $1`, [busy.id]);
    await t.app.memoryIndex.feed.prune(); // busy's row, newer than big's position
    await t.app.examples.add('big', ex('big two'), ACTOR);
    const index = t.app.index as PgvectorIndex;
    const embed = vi.spyOn(index as unknown as { embedMissing: (agent: { id: string }, ids?: string[]) => Promise<number> }, 'embedMissing');
    try {
      await index.catchUp();
      const calls = embed.mock.calls.map(([agent, ids]) => ({ agent: agent.id, whole: ids === undefined }));
      // big applies its one feed row; busy, whose row is gone, compares its table.
      expect(calls).toContainEqual({ agent: big.id, whole: false });
      expect(calls).not.toContainEqual({ agent: big.id, whole: true });
      expect(calls).toContainEqual({ agent: busy.id, whole: true });
    } finally {
      embed.mockRestore();
    }
    expect(await search('big', 'big two')).toBe('big two');
    expect(await search('busy', 'busy one')).toBe('busy one');
  });

  it('prunes from the sync worker of a pgvector process (serve, mcp, sync --watch), where no process joins the feed', async () => {
    const own = await openTestApp({ vectorBackend: 'pgvector' });
    try {
      const agent = await own.app.agents.create({ name: 'pruned-by-pgvector' }, ACTOR);
      for (let i = 0; i < 5; i++) await own.app.examples.add('pruned-by-pgvector', ex(`write ${i}`), ACTOR);
      const worker = await own.app.startSyncWorker({ pollMs: 50, pruneEveryMs: 50 });
      expect(worker.consumerId).toBeUndefined();
      // The worker catches the agent up...
      await expect.poll(async () => (await own.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM example_vectors WHERE agent_id = $1', [agent.id])).rows[0].n, { timeout: 10_000 }).toBe(5);
      // ...and its position passes them once no older transaction is open on the server; a bench's
      // index build next door can hold that back for minutes, so the test moves it past them.
      await own.app.db.query('UPDATE example_vectors_feed SET position = pg_current_xact_id() WHERE agent_id = $1', [agent.id]);
      await expect
        .poll(async () => (await own.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox WHERE agent_id = $1', [agent.id])).rows[0].n, { timeout: 10_000 })
        .toBe(0);
      expect((await own.app.hybridRetrieveBestExamples({ agentId: agent.id, query: 'write 3', topK: 1 })).results[0].input).toBe('write 3');
    } finally {
      await own.close();
    }
  });
});

describe.skipIf(!HAS_PGVECTOR || TEST_DB !== 'postgres')('pgvector on a PostgreSQL server', () => {
  let t: TestEnv;
  beforeAll(async () => {
    t = await openTestApp();
  });
  afterAll(() => t.close());

  it('is the backend auto picks, so replicas share one set of vectors, and is exact by default (no HNSW index made)', async () => {
    expect(t.app.index.backend).toBe('pgvector');
    await t.app.agents.create({ name: 'exact' }, ACTOR);
    await t.app.examples.add('exact', { prompt: 'exact by default', completion: 'c', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    expect((await t.app.hybridRetrieveBestExamples({ agentId: 'exact', query: 'exact by default', topK: 1 })).results[0].input).toBe('exact by default');
    expect((t.app.index as PgvectorIndex).lastPlan).toMatchObject({ mode: 'exact', reason: expect.stringMatching(/HNSW is off/) });
    const { rows } = await t.app.db.query(`SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%USING hnsw%'`);
    expect(rows).toHaveLength(0);
  });

  it('keeps the extension in public, so dropping one Exemplar schema leaves the others their vectors', async () => {
    const { rows } = await t.app.db.query<{ schema: string }>(`SELECT extnamespace::regnamespace::text AS schema FROM pg_extension WHERE extname = 'vector'`);
    expect(rows).toEqual([{ schema: 'public' }]);
    const other = await openTestApp();
    await other.close(); // drops its schema
    await t.app.agents.create({ name: 'survivor' }, ACTOR);
    await t.app.examples.add('survivor', { prompt: 'still here', completion: 'c', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    const r = await t.app.hybridRetrieveBestExamples({ agentId: 'survivor', query: 'still here', topK: 1 });
    expect(r.results[0].input).toBe('still here');
  });

  it('reads the shared feed from its own position, taking no rows from a memory-backend process on the same schema', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-mixed-'));
    const memory = await Exemplar.open(loadConfig({ ...t.env, EXEMPLAR_DATA_DIR: dataDir, EXEMPLAR_VECTOR_BACKEND: 'memory' }));
    try {
      const agent = await t.app.agents.create({ name: 'mixed' }, ACTOR);
      await t.app.examples.add('mixed', { prompt: 'first quokka', completion: 'c', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
      expect((await memory.hybridRetrieveBestExamples({ agentId: 'mixed', query: 'first quokka', topK: 1 })).results[0].input).toBe('first quokka');
      expect((await t.app.hybridRetrieveBestExamples({ agentId: 'mixed', query: 'first quokka', topK: 1 })).results[0].input).toBe('first quokka');
      // Another client writes; pgvector catches up first, and the memory process still finds the change.
      await t.app.db.query(`INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, 'second wombat', 'c', 0.9, 'positive')`, [agent.id]);
      expect((await t.app.hybridRetrieveBestExamples({ agentId: 'mixed', query: 'second wombat', topK: 1 })).results[0].input).toBe('second wombat');
      const { rows } = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox WHERE agent_id = $1', [agent.id]);
      expect(rows[0].n).toBe(2);
      expect(await memory.index.catchUp()).toBe(1); // what its sync worker does
      expect((await memory.hybridRetrieveBestExamples({ agentId: 'mixed', query: 'second wombat', topK: 1 })).results[0].input).toBe('second wombat');
      const status = (await t.app.index.status()).find((s) => s.agentName === 'mixed')!;
      expect(status).toMatchObject({ examples: 2, count: 2, lagChanges: 0 });
      // A change not applied yet is lag, until a search (or the worker) applies it.
      await t.app.db.query(`UPDATE training_examples SET prompt = 'second wombat, edited' WHERE agent_id = $1 AND prompt = 'second wombat'`, [agent.id]);
      expect((await t.app.index.status()).find((s) => s.agentName === 'mixed')).toMatchObject({ lagChanges: 1 });
      expect(await t.app.index.catchUp()).toBe(1);
      expect((await t.app.index.status()).find((s) => s.agentName === 'mixed')).toMatchObject({ lagChanges: 0 });
    } finally {
      await memory.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('creates example_vectors in a schema migrated before the server had pgvector (migration 009)', async () => {
    // What an upgrade finds: migration 002 ran without the extension, so no table.
    await t.app.db.exec('DROP TABLE example_vectors, example_vectors_feed; DELETE FROM schema_migrations WHERE version IN (9, 10)');
    expect(await migrate(t.app.db)).toEqual(expect.arrayContaining([9, 10]));
    const { rows } = await t.app.db.query<{ t: string | null }>(`SELECT to_regclass('example_vectors')::text AS t`);
    expect(rows[0].t).toBe('example_vectors');
    await t.app.syncTrainingDataToVectorStore('survivor');
    const r = await t.app.hybridRetrieveBestExamples({ agentId: 'survivor', query: 'still here', topK: 1 });
    expect(r.results[0].input).toBe('still here');
  });
});

describe.skipIf(!HAS_PGVECTOR || TEST_DB !== 'postgres')('pgvector in a schema off the search path (Supabase keeps extensions in `extensions`)', () => {
  const database = `exemplar_test_ext_${process.pid}_${Date.now().toString(36)}`;
  const admin = async (sql: string, db = 'test') => {
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${db}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const urlOf = () => Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${database}` }).toString();
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${database}`);
    await admin('CREATE SCHEMA extensions; CREATE EXTENSION vector SCHEMA extensions', database);
  });
  afterAll(() => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  const prompts = ['how do I reset my password', 'what is the refund policy', 'where is my parcel', 'cancel my subscription', 'change the billing address', 'talk to a person'];
  for (const schema of ['public', 'exemplar']) {
    it(`migrates, syncs and searches, exactly and by HNSW (EXEMPLAR_DB_SCHEMA=${schema})`, async () => {
      const env = { DATABASE_URL: urlOf(), EXEMPLAR_DB_SCHEMA: schema, EXEMPLAR_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-ext-')) };
      const app = await Exemplar.open(loadConfig(env)); // migrations 002 and 009 name `vector` unqualified
      // Every filter passes more rows than 0, so searches go to HNSW (halfvec, its operator class, OPERATOR(extensions.<=>)).
      const hnsw = await Exemplar.open(loadConfig(env, { pgvectorExactMaxRows: 0, pgvectorEfSearch: 1 }));
      try {
        expect(app.index.backend).toBe('pgvector');
        const { rows } = await app.db.query<{ t: string | null; ext: string }>(
          `SELECT to_regtype('vector')::text AS t, (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector') AS ext`,
        );
        expect(rows[0]).toEqual({ t: null, ext: 'extensions' }); // not on the path, and left where the operator put it
        await app.agents.create({ name: 'supabase' }, ACTOR);
        await app.examples.addMany('supabase', prompts.map((prompt) => ({ prompt, completion: 'c', rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} })), ACTOR);
        expect((await app.syncTrainingDataToVectorStore('supabase')).count).toBe(prompts.length);
        expect((await app.hybridRetrieveBestExamples({ agentId: 'supabase', query: 'how do I reset my password', topK: 1 })).results[0].input).toBe('how do I reset my password');
        expect((app.index as PgvectorIndex).lastPlan?.mode).toBe('exact');

        await hnsw.syncTrainingDataToVectorStore('supabase', { forceRebuild: true }); // makes the model's HNSW index
        const { rows: idx } = await app.db.query(`SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexdef LIKE '%USING hnsw%'`);
        expect(idx).toHaveLength(1);
        expect((await hnsw.hybridRetrieveBestExamples({ agentId: 'supabase', query: 'what is the refund policy', topK: 1 })).results[0].input).toBe('what is the refund policy');
        expect((hnsw.index as PgvectorIndex).lastPlan?.mode).toBe('hnsw');
      } finally {
        await hnsw.close();
        await app.close();
        fs.rmSync(env.EXEMPLAR_DATA_DIR, { recursive: true, force: true });
      }
    });
  }
});

describe.skipIf(HAS_PGVECTOR || TEST_DB !== 'postgres')('a PostgreSQL server without pgvector', () => {
  it('runs the memory backend under auto, and refuses pgvector by name', async () => {
    const t = await openTestApp();
    try {
      expect(t.app.index.backend).toBe('memory');
      const { rows } = await t.app.db.query<{ t: string | null }>(`SELECT to_regclass('example_vectors')::text AS t`);
      expect(rows[0].t).toBeNull();
    } finally {
      await t.close();
    }
    const schema = `exemplar_test_novector_${process.pid}`;
    try {
      await expect(Exemplar.open(loadConfig({ DATABASE_URL: TEST_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema, EXEMPLAR_VECTOR_BACKEND: 'pgvector' })))
        .rejects.toThrow(/EXEMPLAR_VECTOR_BACKEND.*no pgvector extension/);
    } finally {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_scoped CASCADE`);
      await client.end();
    }
  });
});
