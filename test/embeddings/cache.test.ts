import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CachedEmbedder, EmbeddingCache, embedWithCache, sha256 } from '../../src/embeddings/cache.ts';
import { HashingEmbedding } from '../../src/embeddings/hashing.ts';
import { OpenAIEmbedding } from '../../src/embeddings/openai.ts';
import { openTestApp, type TestEnv } from '../support/app.ts';
import { serverVector, startLocalOpenAI, TEST_API_KEY, unit, type LocalOpenAI } from './openai-server.ts';

let t: TestEnv;
let server: LocalOpenAI;
beforeAll(async () => {
  t = await openTestApp();
  server = await startLocalOpenAI();
});
afterAll(async () => {
  await server.close();
  await t.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const provider = (model = 'text-embedding-3-small', dimensions = 8) =>
  new OpenAIEmbedding({ apiKey: TEST_API_KEY, baseURL: server.baseURL, model, dimensions, retryBaseDelayMs: 5 });
const inputsSent = () => server.requests.flatMap((r) => r.body.input);
const expectVector = (v: Float32Array, text: string) =>
  unit(serverVector(text, v.length)).forEach((x, j) => expect(v[j]).toBeCloseTo(x, 5));

describe('embedding cache', () => {
  it('pays for each text once: a second call makes no provider request', async () => {
    const p = provider();
    const texts = ['alpha', 'beta', 'gamma'];
    const first = await embedWithCache(p, texts, t.app.db);
    expect(first).toMatchObject({ hits: 0, misses: 3 });
    expect(server.requests).toHaveLength(1);

    const second = await embedWithCache(p, texts, t.app.db);
    expect(second).toMatchObject({ hits: 3, misses: 0 });
    expect(server.requests).toHaveLength(1);
    // The vectors come back bit for bit.
    second.vectors.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(first.vectors[i])));
    texts.forEach((text, i) => expectVector(second.vectors[i], text));
  });

  it('embeds only the distinct misses and keeps input order', async () => {
    const p = provider();
    await embedWithCache(p, ['one', 'three'], t.app.db);
    server.requests.length = 0;

    const texts = ['four', 'one', 'two', 'three', 'two', 'four', 'five'];
    const r = await embedWithCache(p, texts, t.app.db);
    expect(r).toMatchObject({ hits: 2, misses: 3 });
    expect(inputsSent()).toEqual(['four', 'two', 'five']);
    expect(r.vectors).toHaveLength(texts.length);
    texts.forEach((text, i) => expectVector(r.vectors[i], text));

    const { rows } = await t.app.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM embedding_cache WHERE model = $1 AND text_sha256 = ANY($2::text[])`,
      [p.modelId, texts.map(sha256)],
    );
    expect(rows[0].n).toBe(5);
  });

  it('keeps models apart: the same text under another model or size is a miss', async () => {
    const small = provider('text-embedding-3-small', 8);
    const other = provider('text-embedding-3-large', 8);
    const wider = provider('text-embedding-3-small', 16);
    await embedWithCache(small, ['shared text'], t.app.db);
    server.requests.length = 0;

    const a = await embedWithCache(other, ['shared text'], t.app.db);
    const b = await embedWithCache(wider, ['shared text'], t.app.db);
    expect([a.misses, b.misses]).toEqual([1, 1]);
    expect(server.requests.map((r) => [r.body.model, r.body.dimensions])).toEqual([
      ['text-embedding-3-large', 8],
      ['text-embedding-3-small', 16],
    ]);
    expect(b.vectors[0].length).toBe(16);
    expect((await embedWithCache(small, ['shared text'], t.app.db)).hits).toBe(1);
  });

  it('stores float32 little-endian bytes that read back the same on this driver', async () => {
    const cache = new EmbeddingCache(t.app.db);
    const v = Float32Array.from([1, -0.5, 0.25, 3.4028234663852886e38]);
    await cache.put('raw-test', 4, [{ hash: sha256('raw'), vector: v }]);
    await cache.put('raw-test', 4, [{ hash: sha256('raw'), vector: new Float32Array(4) }]); // conflict: kept
    const { rows } = await t.app.db.query<{ embedding: Uint8Array; dimensions: number }>(
      `SELECT embedding, dimensions FROM embedding_cache WHERE model = 'raw-test'`,
    );
    expect(rows[0].embedding).toBeInstanceOf(Uint8Array);
    expect(rows[0].dimensions).toBe(4);
    expect(Buffer.from(rows[0].embedding).readFloatLE(4)).toBe(-0.5);
    const got = await cache.get('raw-test', 4, [sha256('raw'), sha256('absent')]);
    expect([...got.keys()]).toEqual([sha256('raw')]);
    expect(Array.from(got.get(sha256('raw'))!)).toEqual(Array.from(v));
  });

  it('calls providers that are not worth caching directly, writing nothing', async () => {
    const before = await t.app.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM embedding_cache`);
    const r = await embedWithCache(new HashingEmbedding(), ['a', 'b'], t.app.db);
    expect(r).toMatchObject({ hits: 0, misses: 0 });
    expect(r.vectors).toHaveLength(2);
    const after = await t.app.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM embedding_cache`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('counts hits and misses across calls for a hit ratio', async () => {
    const c = new CachedEmbedder(provider('ratio-model', 4), t.app.db);
    expect(c.hitRatio).toBeNull();
    await c.embed(['x', 'y']);
    await c.embed(['x', 'y', 'z', 'x']);
    expect({ hits: c.hits, misses: c.misses }).toEqual({ hits: 2, misses: 3 });
    expect(c.hitRatio).toBeCloseTo(0.4);
    expect(await c.embed([])).toEqual([]);
  });
});
