import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';
import { databaseHasPgvector } from '../support/pgvector.ts';
import { startLocalOpenAI, TEST_API_KEY, type LocalOpenAI } from '../embeddings/openai-server.ts';
import { loadEmbeddingConfig } from '../../src/embeddings/providers.ts';

// Both backends, where the database has pgvector: each must notice the new model by itself.
const BACKENDS = (await databaseHasPgvector()) ? (['memory', 'pgvector'] as const) : (['memory'] as const);

describe.each(BACKENDS)('changing an agent\'s embedding model (%s backend)', (backend) => {
  let t: TestEnv;
  let server: LocalOpenAI;
  beforeAll(async () => {
    server = await startLocalOpenAI();
    t = await openTestApp({ vectorBackend: backend, embedding: loadEmbeddingConfig({ OPENAI_API_KEY: TEST_API_KEY, OPENAI_BASE_URL: server.baseURL }) });
    expect(t.app.index.backend).toBe(backend);
  });
  afterAll(async () => {
    await t.close();
    await server.close();
  });

  it('rebuilds the index with the new model, never mixing vectors, and re-syncs from the cache', async () => {
    await t.app.agents.create({ name: 'switch' }, ACTOR);
    await t.app.examples.addMany('switch', ['alpha', 'beta', 'gamma'].map((p) => ({ prompt: p, completion: 'c', rewardScore: 0.5, exampleType: 'positive' as const, metadata: {} })), ACTOR);
    const before = await t.app.hybridRetrieveBestExamples({ agentId: 'switch', query: 'alpha', topK: 1 });
    expect(before.model).toBe('hashing-v2');

    await t.app.agents.update('switch', { embeddingModel: 'openai:text-embedding-3-small@64' }, ACTOR);
    const after = await t.app.hybridRetrieveBestExamples({ agentId: 'switch', query: 'alpha', topK: 1 });
    expect(after.model).toBe('openai:text-embedding-3-small@64');
    expect(after.results[0].input).toBe('alpha');
    const status = (await t.app.index.status()).find((s) => s.agentName === 'switch')!;
    expect(status).toMatchObject({ model: 'openai:text-embedding-3-small@64', count: 3 });

    // A forced rebuild pays for no embedding twice: every prompt comes from the cache.
    const calls = server.requests.length;
    await t.app.syncTrainingDataToVectorStore('switch', { forceRebuild: true });
    expect(server.requests.length).toBe(calls);
  });

  it('rejects an unknown model, naming the field', async () => {
    await expect(t.app.agents.create({ name: 'bad-model', embeddingModel: 'word2vec' }, ACTOR)).rejects.toMatchObject({ field: 'embeddingModel' });
  });
});
