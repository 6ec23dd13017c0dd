import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Settings, storageContextFromDefaults, TextNode, VectorStoreIndex, type MetadataFilters, type NodeWithScore } from 'llamaindex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOperation } from '../../src/operations/registry.ts';
import { parseInput } from '../../src/validation.ts';
import { ExemplarVectorStore } from '../../src/vectors/llamaindex-store.ts';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let store: ExemplarVectorStore;
const dirs: string[] = [];

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
const WORDS = 'python sql docker git rust regex test async file list sort parse json csv http error memory thread cache index query'.split(' ');
const sentence = (rand: () => number, n = 6) => Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');

beforeAll(async () => {
  t = await openTestApp();
  await t.app.agents.create({ name: 'llama' }, ACTOR);
  const rand = rng(7);
  await t.app.examples.addMany(
    'llama',
    Array.from({ length: 200 }, (_, i) => ({
      prompt: `${sentence(rand)} #${i}`,
      completion: `answer ${i}`,
      rewardScore: Math.round(rand() * 100) / 100,
      exampleType: rand() < 0.6 ? ('positive' as const) : ('negative' as const),
      metadata: {},
    })),
    ACTOR,
  );
  store = await ExemplarVectorStore.open(t.app, 'llama');
  // LlamaIndex embeds queries with Settings.embedModel: the agent's own provider (hashing-v2).
  Settings.embedModel = store.embedModel;
});
afterAll(async () => {
  await t.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Exemplar's own answer by similarity alone. */
async function exemplarTop(query: string, topK: number, extra: { minScore?: number; exampleType?: 'positive' | 'negative' } = {}) {
  const r = await t.app.hybridRetrieveBestExamples({ agentId: 'llama', query, topK, similarityWeight: 1, scoreWeight: 0, ...extra });
  return r.results;
}

/** Same ranking: same ids in order, except where two similarities tie (then either order is right). */
function expectSameRanking(got: NodeWithScore[], want: Awaited<ReturnType<typeof exemplarTop>>) {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(g.score!).toBeCloseTo(want[i].similarity!, 5);
    if (g.node.id_ !== want[i].id) expect(Math.abs(g.score! - want[i].similarity!)).toBeLessThan(1e-5);
  });
}

describe('ExemplarVectorStore', () => {
  it('serves a real LlamaIndex retriever with the same ranking as Exemplar, and never returns a deleted example', async () => {
    const index = await VectorStoreIndex.fromVectorStore(store);
    const retriever = index.asRetriever({ similarityTopK: 5 });
    const rand = rng(99);
    for (let trial = 0; trial < 10; trial++) {
      const query = sentence(rand, 4);
      const got = await retriever.retrieve(query);
      expectSameRanking(got, await exemplarTop(query, 5));
    }

    const query = 'parse json python';
    const before = await retriever.retrieve(query);
    const top = before[0].node as TextNode;
    const want = (await exemplarTop(query, 1))[0];
    expect(top.id_).toBe(want.id);
    expect(top.text).toBe(`${want.input}\n\n${want.output}`);
    expect(top.metadata).toMatchObject({ prompt: want.input, completion: want.output, reward_score: want.score, example_type: want.exampleType });
    expect(top.sourceNode?.nodeId).toBe(want.id);

    // One deleted through the store, one by plain SQL with no sync: the index still holds it.
    const [first, second] = before.map((n) => n.node.id_);
    await store.delete(first);
    await t.app.db.query('DELETE FROM training_examples WHERE id = $1', [second]);
    const after = await retriever.retrieve(query);
    expect(after).toHaveLength(5);
    expect(after.map((n) => n.node.id_)).not.toContain(first);
    expect(after.map((n) => n.node.id_)).not.toContain(second);
    expectSameRanking(after, await exemplarTop(query, 5));
    // Deleting an id the agent does not have is a no-op, as in LlamaIndex's own stores.
    await expect(store.delete(first)).resolves.toBeUndefined();
  });

  it('applies reward_score and example_type filters exactly', async () => {
    const index = await VectorStoreIndex.fromVectorStore(store);
    const filters: MetadataFilters = {
      filters: [
        { key: 'example_type', value: 'positive', operator: '==' },
        { key: 'reward_score', value: 0.7, operator: '>=' },
      ],
    };
    const got = await index.asRetriever({ similarityTopK: 8, filters }).retrieve('sort list python');
    expectSameRanking(got, await exemplarTop('sort list python', 8, { minScore: 0.7, exampleType: 'positive' }));
    for (const n of got) expect(n.node.metadata).toMatchObject({ example_type: 'positive' });
    const capped = await index.asRetriever({ similarityTopK: 50, filters: { filters: [{ key: 'reward_score', value: 0.2, operator: '<' }] } }).retrieve('docker');
    expect(capped.length).toBeGreaterThan(0);
    for (const n of capped) expect(n.node.metadata.reward_score).toBeLessThan(0.2);
    await expect(index.asRetriever({ filters: { filters: [{ key: 'source', value: 'x', operator: '==' }] } }).retrieve('x')).rejects.toThrow(/cannot filter source/);
  });

  it('adds nodes as examples, searchable at once, and refuses nodes without reward and type', async () => {
    const node = new TextNode({ text: 'configure nginx reverse proxy', metadata: { completion: 'proxy_pass', reward_score: 0.9, example_type: 'positive', source: 'llamaindex' } });
    const [id] = await store.add([node]);
    const example = await t.app.examples.get(id);
    expect(example).toMatchObject({ prompt: 'configure nginx reverse proxy', completion: 'proxy_pass', rewardScore: 0.9, metadata: { source: 'llamaindex' } });
    // The same content again resolves to the same example.
    expect(await store.add([node])).toEqual([id]);
    const index = await VectorStoreIndex.fromVectorStore(store);
    const [top] = await index.asRetriever({ similarityTopK: 1 }).retrieve('nginx reverse proxy');
    expect(top.node.id_).toBe(id);
    await expect(store.add([new TextNode({ text: 'no metadata' })])).rejects.toThrow(/reward_score.*example_type/);
  });
});

describe('exportLlamaIndex', () => {
  it('writes a persisted index that the real llamaindex package loads and retrieves from, with Exemplar ids', async () => {
    const persistDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-llamaindex-'));
    dirs.push(persistDir);
    const op = findOperation('export_llamaindex')!;
    const out = (await op.run(parseInput(op.input, { agent: 'llama', persistDir }), { app: t.app, actor: ACTOR, access: FULL_ACCESS })) as {
      persistDir: string; count: number; model: string; files: string[];
    };
    expect(op.output.safeParse(out).success).toBe(true);
    const { rows } = await t.app.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM training_examples e JOIN agents a ON a.id = e.agent_id WHERE a.name = 'llama'`);
    expect(out).toMatchObject({ persistDir, count: rows[0].n, model: 'hashing-v2' });
    expect(out.files.map((f) => path.basename(f)).sort()).toEqual(['doc_store.json', 'index_store.json', 'vector_store.json']);

    const storageContext = await storageContextFromDefaults({ persistDir });
    const index = await VectorStoreIndex.init({ storageContext });
    expect(Object.keys(index.indexStruct.nodesDict)).toHaveLength(out.count);
    expect(await storageContext.docStore.getAllRefDocInfo()).toHaveProperty(Object.keys(index.indexStruct.nodesDict)[0]);
    const retriever = index.asRetriever({ similarityTopK: 5 });
    const rand = rng(5);
    for (const query of ['parse json python', 'configure nginx reverse proxy', sentence(rand, 4), sentence(rand, 4)]) {
      const got = await retriever.retrieve(query);
      const want = await exemplarTop(query, 5);
      expectSameRanking(got, want);
      expect(got[0].node.id_).toBe(want[0].id);
      expect((got[0].node as TextNode).text).toBe(`${want[0].input}\n\n${want[0].output}`);
      expect(got[0].node.metadata).toMatchObject({ prompt: want[0].input, reward_score: want[0].score, example_type: want[0].exampleType });
    }
    // SimpleVectorStore filters on the exported metadata.
    const negatives = await index.asRetriever({ similarityTopK: 5, filters: { filters: [{ key: 'example_type', value: 'negative', operator: '==' }] } }).retrieve('sql query');
    expectSameRanking(negatives, await exemplarTop('sql query', 5, { exampleType: 'negative' }));
  });
});
