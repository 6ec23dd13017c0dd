import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashingEmbeddingV2 } from '../../src/embeddings/hashing-v2.ts';
import { hybridScore } from '../../src/vectors/vector-table.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';
import { databaseHasPgvector } from '../support/pgvector.ts';

// Every test runs on each vector backend the database offers (a PostgreSQL server may lack pgvector).
const BACKENDS = (await databaseHasPgvector()) ? (['memory', 'pgvector'] as const) : (['memory'] as const);
let t: TestEnv;

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
const WORDS = 'python sql docker git rust regex test async file list sort parse json csv http error memory thread cache index query'.split(' ');
const sentence = (rand: () => number, n = 6) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');

/** The oracle: plain SQL for the filter, plain JS for cosine and rank. */
async function oracle(agentId: string, query: string, o: { minScore: number; topK: number; exampleType?: string; alpha: number; beta: number }) {
  const { rows } = await t.app.db.query<{ id: string; prompt: string; completion: string; reward: number }>(
    `SELECT id::text, prompt, completion, reward_score AS reward FROM training_examples
      WHERE agent_id = $1 AND reward_score >= $2 AND ($3::text IS NULL OR example_type = $3)`,
    [agentId, o.minScore, o.exampleType ?? null],
  );
  // The default model, hashing-v2, embeds an example from its prompt and its completion.
  const e = new HashingEmbeddingV2();
  const [q] = await e.embed([query]);
  const vs = await e.embed(rows.map((r) => e.exampleText(r)));
  return rows
    .map((r, i) => {
      let s = 0;
      for (let j = 0; j < q.length; j++) s += q[j] * vs[i][j];
      return { id: r.id, hybrid: hybridScore(s, r.reward, o.alpha, o.beta) };
    })
    .sort((a, b) => b.hybrid - a.hybrid)
    .slice(0, o.topK);
}

describe.each(BACKENDS)('hybridRetrieveBestExamples on the %s backend', (backend) => {
  beforeAll(async () => {
    t = await openTestApp({ vectorBackend: backend });
    expect(t.app.index.backend).toBe(backend);
  });
  afterAll(() => t.close());

  it('equals the exact oracle at every quiescent point, over random data, filters and changes', async () => {
    const rand = rng(42);
    const agent = await t.app.agents.create({ name: 'prop' }, ACTOR);
    await t.app.examples.addMany(
      'prop',
      Array.from({ length: 400 }, (_, i) => ({
        prompt: `${sentence(rand)} #${i}`,
        completion: sentence(rand, 3),
        rewardScore: Math.round(rand() * 100) / 100,
        exampleType: rand() < 0.6 ? ('positive' as const) : ('negative' as const),
        metadata: {},
      })),
      ACTOR,
    );
    for (let round = 0; round < 6; round++) {
      // Changes from "another client": plain SQL inserts, updates and deletes.
      await t.app.db.query(
        `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
         SELECT $1, $2 || ' r' || g, 'c', (g % 100) / 100.0, CASE WHEN g % 2 = 0 THEN 'positive' ELSE 'negative' END FROM generate_series(1, 20) g`,
        [agent.id, sentence(rand)],
      );
      await t.app.db.query(`UPDATE training_examples SET reward_score = $2 WHERE agent_id = $1 AND id IN (SELECT id FROM training_examples WHERE agent_id = $1 ORDER BY md5(id::text || $3) LIMIT 15)`, [agent.id, Math.round(rand() * 100) / 100, String(round)]);
      await t.app.db.query(`UPDATE training_examples SET prompt = prompt || ' ' || $2 WHERE agent_id = $1 AND id IN (SELECT id FROM training_examples WHERE agent_id = $1 ORDER BY md5(id::text || $3) LIMIT 5)`, [agent.id, sentence(rand, 2), `p${round}`]);
      await t.app.db.query(`DELETE FROM training_examples WHERE agent_id = $1 AND id IN (SELECT id FROM training_examples WHERE agent_id = $1 ORDER BY md5(id::text || $2) LIMIT 10)`, [agent.id, `d${round}`]);
      if (round % 2 === 0) await t.app.syncTrainingDataToVectorStore(agent.id);
      else await t.app.index.catchUp();

      for (let trial = 0; trial < 8; trial++) {
        const o = {
          minScore: Math.round(rand() * 80) / 100,
          topK: 1 + Math.floor(rand() * 12),
          exampleType: trial % 3 === 0 ? undefined : trial % 3 === 1 ? 'positive' : 'negative',
          alpha: Math.round(rand() * 100) / 100,
          beta: 0,
        };
        o.beta = Math.round((1 - o.alpha) * 100) / 100;
        const query = sentence(rand, 4);
        const got = await t.app.hybridRetrieveBestExamples({
          agentId: 'prop', query, minScore: o.minScore, topK: o.topK,
          exampleType: o.exampleType as 'positive' | 'negative' | undefined, similarityWeight: o.alpha, scoreWeight: o.beta,
        });
        const want = await oracle(agent.id, query, o);
        // The memory index and pgvector's exact scan (the default: HNSW is opt-in) say they are exact.
        expect(got.exact).toBe(true);
        expect(got.plan).toBeUndefined();
        expect(got.results.length).toBe(want.length);
        got.results.forEach((r, i) => {
          expect(r.rank).toBe(i + 1);
          expect(r.hybridScore).toBeCloseTo(want[i].hybrid, 5);
          if (r.id !== want[i].id) expect(Math.abs(r.hybridScore! - want[i].hybrid)).toBeLessThan(1e-5);
          expect(r.score).toBeGreaterThanOrEqual(o.minScore);
          if (o.exampleType) expect(r.exampleType).toBe(o.exampleType);
        });
      }
    }
  });

  it('never returns an example deleted or changed out of the filter, even before sync', async () => {
    await t.app.agents.create({ name: 'stale' }, ACTOR);
    const ids = (await t.app.examples.addMany('stale', Array.from({ length: 30 }, (_, i) => ({
      prompt: `how to parse json in python ${i}`, completion: `answer ${i}`, rewardScore: 0.9, exampleType: 'positive' as const, metadata: {},
    })), ACTOR)).ids;
    await t.app.syncTrainingDataToVectorStore('stale');
    const q = { agentId: 'stale', query: 'parse json python', minScore: 0.5, topK: 10, exampleType: 'positive' as const };
    const before = (await t.app.hybridRetrieveBestExamples(q)).results.map((r) => r.id);
    expect(before).toHaveLength(10);
    const [gone, lowered, flipped] = before;
    // Plain SQL, and no sync: the index still holds the old rows.
    await t.app.db.query('DELETE FROM training_examples WHERE id = $1', [gone]);
    await t.app.db.query('UPDATE training_examples SET reward_score = 0.1 WHERE id = $1', [lowered]);
    await t.app.db.query(`UPDATE training_examples SET example_type = 'negative' WHERE id = $1`, [flipped]);
    const after = await t.app.hybridRetrieveBestExamples(q);
    expect(after.results).toHaveLength(10);
    const got = after.results.map((r) => r.id);
    expect(got).not.toContain(gone);
    expect(got).not.toContain(lowered);
    expect(got).not.toContain(flipped);
    expect(got.every((id) => ids.includes(id))).toBe(true);
    expect(after.results.map((r) => r.rank)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('scores an example whose prompt changed with a fresh embedding, before sync', async () => {
    await t.app.agents.create({ name: 'fresh' }, ACTOR);
    const { ids } = await t.app.examples.addMany('fresh', [
      { prompt: 'docker compose networking', completion: 'a', rewardScore: 0.5, exampleType: 'positive', metadata: {} },
      { prompt: 'rust borrow checker lifetimes', completion: 'b', rewardScore: 0.5, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    await t.app.syncTrainingDataToVectorStore('fresh');
    await t.app.db.query(`UPDATE training_examples SET prompt = 'rust borrow checker lifetimes explained' WHERE id = $1`, [ids[0]]);
    const r = await t.app.hybridRetrieveBestExamples({ agentId: 'fresh', query: 'rust borrow checker lifetimes', topK: 2 });
    const changed = r.results.find((x) => x.id === ids[0])!;
    expect(changed.input).toBe('rust borrow checker lifetimes explained');
    expect(changed.similarity).toBeGreaterThan(0.5);
  });

  it('uses per-agent, per-call and orchestrator weights, and reports every score part', async () => {
    await t.app.agents.create({ name: 'weights', similarityWeight: 0.2, scoreWeight: 0.8 }, ACTOR);
    await t.app.examples.addMany('weights', [
      { prompt: 'sort a list in python', completion: 'sorted(xs)', rewardScore: 0.3, exampleType: 'positive', metadata: {} },
      { prompt: 'unrelated kubernetes ingress question', completion: 'yaml', rewardScore: 1, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    const byAgent = await t.app.hybridRetrieveBestExamples({ agentId: 'weights', query: 'sort a list in python', topK: 2 });
    expect(byAgent).toMatchObject({ similarityWeight: 0.2, scoreWeight: 0.8, model: 'hashing-v2' });
    expect(byAgent.results[0].input).toContain('kubernetes');
    const r0 = byAgent.results[0];
    expect(r0.hybridScore).toBeCloseTo(0.2 * r0.similarity! + 0.8 * r0.score, 5);
    const byCall = await t.app.hybridRetrieveBestExamples({ agentId: 'weights', query: 'sort a list in python', topK: 2, similarityWeight: 1, scoreWeight: 0 });
    expect(byCall.results[0].input).toBe('sort a list in python');
    t.app.similarityWeight = 0.9;
    t.app.scoreWeight = 0.1;
    try {
      const byOrchestrator = await t.app.hybridRetrieveBestExamples({ agentId: 'weights', query: 'sort a list in python', topK: 1 });
      expect(byOrchestrator).toMatchObject({ similarityWeight: 0.9, scoreWeight: 0.1 });
      expect(byOrchestrator.results[0].input).toBe('sort a list in python');
    } finally {
      t.app.similarityWeight = undefined;
      t.app.scoreWeight = undefined;
    }
  });

  it('applies SQL-only filters exactly, removes near duplicates, and diversifies with MMR', async () => {
    await t.app.agents.create({ name: 'extras' }, ACTOR);
    await t.app.examples.addMany('extras', [
      { prompt: 'read a csv file in python with pandas', completion: 'pd.read_csv', rewardScore: 0.9, exampleType: 'positive', metadata: {} },
      { prompt: 'read a csv file in python with pandas please', completion: 'pd.read_csv(path)', rewardScore: 0.88, exampleType: 'positive', metadata: {} },
      { prompt: 'read a csv file in python using the csv module', completion: 'csv.reader', rewardScore: 0.85, exampleType: 'positive', metadata: {} },
      { prompt: 'write json to a file in python', completion: 'json.dump', rewardScore: 0.8, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    const q = { agentId: 'extras', query: 'read a csv file in python with pandas', topK: 2 };
    const plain = await t.app.hybridRetrieveBestExamples(q);
    expect(plain.results.map((r) => r.output)).toEqual(['pd.read_csv', 'pd.read_csv(path)']);
    const deduped = await t.app.hybridRetrieveBestExamples({ ...q, dedupeThreshold: 0.9 });
    expect(deduped.results[0].output).toBe('pd.read_csv');
    expect(deduped.results[1].output).not.toBe('pd.read_csv(path)');
    const diverse = await t.app.hybridRetrieveBestExamples({ ...q, diversity: 0.8 });
    expect(diverse.results[1].output).not.toBe('pd.read_csv(path)');
    const contains = await t.app.hybridRetrieveBestExamples({ ...q, contains: 'csv module', topK: 5 });
    expect(contains.results.map((r) => r.output)).toEqual(['csv.reader']);
    const capped = await t.app.hybridRetrieveBestExamples({ ...q, maxScore: 0.86, topK: 5 });
    expect(capped.results.map((r) => r.output).sort()).toEqual(['csv.reader', 'json.dump']);
  });

  it('balances positive examples with the most instructive negatives', async () => {
    await t.app.agents.create({ name: 'mix' }, ACTOR);
    await t.app.examples.addMany('mix', [
      { prompt: 'escape sql input', completion: 'use parameters', rewardScore: 0.95, exampleType: 'positive', metadata: {} },
      { prompt: 'escape sql input safely', completion: 'string concat', rewardScore: 0.05, exampleType: 'negative', metadata: {} },
      { prompt: 'escape sql input now', completion: 'meh', rewardScore: 0.4, exampleType: 'negative', metadata: {} },
      { prompt: 'bake bread', completion: 'flour', rewardScore: 0.0, exampleType: 'negative', metadata: {} },
    ], ACTOR);
    const mix = await t.app.retrieval.retrieveBalanced({ agentId: 'mix', query: 'escape sql input', topK: 3, positiveRatio: 1 / 3 });
    expect(mix.positive.map((r) => r.output)).toEqual(['use parameters']);
    expect(mix.negative.map((r) => r.output)).toEqual(['string concat', 'meh']);
    expect(mix.negative[0].hybridScore).toBeCloseTo(0.6 * mix.negative[0].similarity! + 0.4 * (1 - 0.05), 5);
  });

  it('sees changes to the agent made since its last search: weights, name, deletion', async () => {
    await t.app.agents.create({ name: 'cached' }, ACTOR);
    await t.app.examples.add('cached', { prompt: 'p', completion: 'c', rewardScore: 0.5, exampleType: 'positive' }, ACTOR);
    expect(await t.app.hybridRetrieveBestExamples({ agentId: 'cached', query: 'p' })).toMatchObject({ similarityWeight: 0.6 });
    // Another client changes the agent behind this process's back.
    await t.app.db.query(`UPDATE agents SET similarity_weight = 0.1 WHERE name = 'cached'`);
    expect(await t.app.hybridRetrieveBestExamples({ agentId: 'cached', query: 'p' })).toMatchObject({ similarityWeight: 0.1 });
    await t.app.db.query(`UPDATE agents SET name = 'renamed' WHERE name = 'cached'`);
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'cached', query: 'p' })).rejects.toThrow(/agent not found: cached/);
    expect((await t.app.hybridRetrieveBestExamples({ agentId: 'renamed', query: 'p' })).results).toHaveLength(1);
    await t.app.db.query(`DELETE FROM agents WHERE name = 'renamed'`);
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'renamed', query: 'p' })).rejects.toThrow(/agent not found: renamed/);
  });

  it("scores with the seed's formula, α·cosine + β·reward, and reproduces its worked example", async () => {
    // The seed: similarity 0.85, reward 0.92, weights 0.6 and 0.4 give 0.878.
    expect(hybridScore(0.85, 0.92, 0.6, 0.4)).toBeCloseTo(0.878, 10);
    // hashing (v1) embeds the prompt alone, so the exact match has cosine 1.
    await t.app.agents.create({ name: 'seed', embeddingModel: 'hashing' }, ACTOR);
    await t.app.examples.addMany('seed', [
      { prompt: 'read a csv file in python', completion: 'csv.DictReader', rewardScore: 0.92, exampleType: 'positive', metadata: {} },
      { prompt: 'reverse a string', completion: 's[::-1]', rewardScore: 1, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    const { results } = await t.app.hybridRetrieveBestExamples({ agentId: 'seed', query: 'read a csv file in python', topK: 2 });
    // The exact match (cosine 1) leads: 0.6·1 + 0.4·0.92 = 0.968, against 0.6·cos + 0.4 for the other.
    expect(results[0]).toMatchObject({ input: 'read a csv file in python', similarity: 1, hybridScore: 0.968 });
    expect(results[1].hybridScore).toBeCloseTo(0.6 * results[1].similarity! + 0.4, 5);
  });

  it('ranks by reward when there is no query: best first, negatives lowest first', async () => {
    await t.app.agents.create({ name: 'noquery' }, ACTOR);
    await t.app.examples.addMany('noquery', [0.3, 0.9, 0.6].flatMap((r, i) => [
      { prompt: `good ${i}`, completion: 'c', rewardScore: r, exampleType: 'positive' as const, metadata: {} },
      { prompt: `bad ${i}`, completion: 'c', rewardScore: [0.1, 0.3, 0.2][i], exampleType: 'negative' as const, metadata: {} },
    ]), ACTOR);
    const best = await t.app.hybridRetrieveBestExamples({ agentId: 'noquery', exampleType: 'positive', topK: 2 });
    expect(best.results.map((r) => [r.score, r.similarity, r.hybridScore, r.rank])).toEqual([[0.9, null, null, 1], [0.6, null, null, 2]]);
    const worst = await t.app.hybridRetrieveBestExamples({ agentId: 'noquery', exampleType: 'negative', topK: 2 });
    expect(worst.results.map((r) => r.score)).toEqual([0.1, 0.2]);
    const filtered = await t.app.hybridRetrieveBestExamples({ agentId: 'noquery', exampleType: 'positive', maxScore: 0.7, minScore: 0.5 });
    expect(filtered.results.map((r) => r.score)).toEqual([0.6]);
    const mix = await t.app.retrieval.retrieveBalanced({ agentId: 'noquery', topK: 4 });
    expect(mix.positive.map((r) => r.score)).toEqual([0.9, 0.6]);
    expect(mix.negative.map((r) => r.score)).toEqual([0.1, 0.2]);
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'noquery', diversity: 0.5 })).rejects.toMatchObject({ field: 'diversity' });
  });

  it('rejects bad queries with the field named', async () => {
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'prop', query: '' })).rejects.toMatchObject({ field: 'query' });
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'prop', query: 'x', topK: 0 })).rejects.toMatchObject({ field: 'topK' });
    await expect(t.app.hybridRetrieveBestExamples({ agentId: 'nobody', query: 'x' })).rejects.toThrow(/agent not found/);
  });
});
