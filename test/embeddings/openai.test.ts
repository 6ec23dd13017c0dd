import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OpenAIEmbedding, type OpenAIEmbeddingOptions } from '../../src/embeddings/openai.ts';
import { createEmbedding, loadEmbeddingConfig } from '../../src/embeddings/providers.ts';
import { EmbeddingProviderError, ValidationError } from '../../src/errors.ts';
import { llamaIndexEmbedding } from '../../src/vectors/llamaindex-embedding.ts';
import { serverVector, startLocalOpenAI, TEST_API_KEY, unit, type LocalOpenAI } from './openai-server.ts';

let server: LocalOpenAI;
beforeAll(async () => {
  server = await startLocalOpenAI();
});
afterAll(() => server.close());
beforeEach(() => {
  server.requests.length = 0;
  server.failures.length = 0;
});

// Short retry waits, so the tests stay fast.
const provider = (options: OpenAIEmbeddingOptions = {}) =>
  new OpenAIEmbedding({ apiKey: TEST_API_KEY, baseURL: server.baseURL, retryBaseDelayMs: 5, ...options });

describe('OpenAI-compatible embedding', () => {
  it('splits inputs into batches and returns unit vectors in input order', async () => {
    const e = provider({ dimensions: 8 });
    const texts = Array.from({ length: 600 }, (_, i) => `text number ${i}`);
    const vectors = await e.embed(texts);
    expect(server.requests.map((r) => r.body.input.length)).toEqual([256, 256, 88]);
    expect(server.requests[0].body).toMatchObject({ model: 'text-embedding-3-small', encoding_format: 'float', dimensions: 8 });
    expect(server.requests[0].authorization).toBe(`Bearer ${TEST_API_KEY}`);
    expect(vectors).toHaveLength(600);
    for (const i of [0, 255, 256, 599]) {
      expect(vectors[i]).toBeInstanceOf(Float32Array);
      const expected = unit(serverVector(texts[i], 8));
      expected.forEach((x, j) => expect(vectors[i][j]).toBeCloseTo(x, 5));
    }
  });

  it('passes dimensions through and puts them in the model id', async () => {
    const e = provider({ dimensions: 256 });
    expect(e.modelId).toBe('openai:text-embedding-3-small@256');
    const [v] = await e.embed(['hello']);
    expect(server.requests[0].body.dimensions).toBe(256);
    expect(v.length).toBe(256);
  });

  it('uses the known size of OpenAI models and sends no dimensions field then', async () => {
    const e = provider();
    expect(e.dimensions).toBe(1536);
    expect(e.modelId).toBe('openai:text-embedding-3-small@1536');
    expect(provider({ model: 'text-embedding-3-large' }).dimensions).toBe(3072);
    const [v] = await e.embed(['hello']);
    expect(v.length).toBe(1536);
    expect('dimensions' in server.requests[0].body).toBe(false);
    // Another model must be given a size.
    expect(() => provider({ model: 'nomic-embed-text' })).toThrow(ValidationError);
  });

  it('retries after 429 and honours Retry-After', async () => {
    server.failures.push({ status: 429, headers: { 'retry-after': '0.2' } });
    const t = performance.now();
    const [v] = await provider({ dimensions: 4 }).embed(['rate limited']);
    expect(performance.now() - t).toBeGreaterThanOrEqual(190);
    expect(server.requests).toHaveLength(2);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
  });

  it('retries after 500 and 503 with backoff', async () => {
    server.failures.push({ status: 500 }, { status: 503 });
    const vectors = await provider({ dimensions: 4 }).embed(['a', 'b']);
    expect(server.requests).toHaveLength(3);
    expect(vectors).toHaveLength(2);
  });

  it('gives up after maxRetries with a provider error', async () => {
    server.failures.push({ status: 503 }, { status: 503 }, { status: 503 });
    const err = await provider({ dimensions: 4, maxRetries: 2 }).embed(['x']).catch((x) => x);
    expect(err).toBeInstanceOf(EmbeddingProviderError);
    expect(err.message).toContain('HTTP 503');
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry a 401, and says which variable to set without showing the key', async () => {
    const wrongKey = 'sk-wrong-KEY-should-never-be-shown';
    const err = await provider({ apiKey: wrongKey, dimensions: 4 }).embed(['x']).catch((x) => x);
    expect(err).toBeInstanceOf(EmbeddingProviderError);
    expect(err.message).toMatch(/rejected the API key/);
    expect(err.message).toContain('OPENAI_API_KEY');
    expect(err.message).not.toContain(wrongKey);
    expect(JSON.stringify(err.toJSON())).not.toContain(wrongKey);
    expect(server.requests).toHaveLength(1);
  });

  it('asks for a key when talking to api.openai.com without one', async () => {
    const err = await new OpenAIEmbedding({}).embed(['x']).catch((x) => x);
    expect(err).toBeInstanceOf(EmbeddingProviderError);
    expect(err.message).toContain('OPENAI_API_KEY');
  });

  it('returns the zero vector for an empty text without sending it', async () => {
    const vectors = await provider({ dimensions: 4 }).embed(['', 'x', '']);
    expect(server.requests[0].body.input).toEqual(['x']);
    expect(Array.from(vectors[0])).toEqual([0, 0, 0, 0]);
    expect(Math.hypot(...vectors[1])).toBeCloseTo(1, 5);
  });

  it('works through the LlamaIndex interface', async () => {
    const e = provider({ dimensions: 4 });
    const li = llamaIndexEmbedding(e);
    const one = await li.getTextEmbedding('hello');
    expect(one).toHaveLength(4);
    expect(await li.getTextEmbeddings(['hello', 'world'])).toHaveLength(2);
  });

  it('is built from a spec and the environment', async () => {
    const config = loadEmbeddingConfig({ OPENAI_API_KEY: TEST_API_KEY, OPENAI_BASE_URL: server.baseURL });
    const e = createEmbedding('openai:text-embedding-3-small@16', config);
    expect(e.modelId).toBe('openai:text-embedding-3-small@16');
    expect((await e.embed(['spec']))[0].length).toBe(16);
    const withEnvDims = createEmbedding('openai:nomic-embed-text', { ...config, embeddingDimensions: 768 });
    expect(withEnvDims.modelId).toBe('openai:nomic-embed-text@768');
  });
});
