import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashingEmbedding } from '../../src/embeddings/hashing.ts';
import { OpenAIEmbedding } from '../../src/embeddings/openai.ts';
import { createEmbedding, loadEmbeddingConfig } from '../../src/embeddings/providers.ts';
import { TransformersEmbedding } from '../../src/embeddings/transformers.ts';
import { ValidationError } from '../../src/errors.ts';

describe('embedding providers from a spec', () => {
  const config = loadEmbeddingConfig({});

  it('reads the environment', () => {
    const c = loadEmbeddingConfig({
      OPENAI_API_KEY: 'k',
      OPENAI_BASE_URL: 'http://localhost:11434/v1',
      EXEMPLAR_EMBEDDING_DIMENSIONS: '768',
      EXEMPLAR_TRANSFORMERS_DIR: '/models',
      HF_HUB_OFFLINE: '1',
    });
    expect(c).toEqual({
      openaiApiKey: 'k',
      openaiBaseUrl: 'http://localhost:11434/v1',
      embeddingDimensions: 768,
      transformersDir: '/models',
      transformersOffline: true,
    });
    expect(config).toMatchObject({ openaiApiKey: undefined, embeddingDimensions: undefined, transformersOffline: false });
    expect(loadEmbeddingConfig({ EXEMPLAR_DATA_DIR: '/data' }).transformersDir).toBe(path.resolve('/data/models'));
    expect(() => loadEmbeddingConfig({ EXEMPLAR_EMBEDDING_DIMENSIONS: 'many' })).toThrow(/EXEMPLAR_EMBEDDING_DIMENSIONS/);
  });

  it('builds each kind', () => {
    expect(createEmbedding('hashing', config)).toBeInstanceOf(HashingEmbedding);
    expect(createEmbedding('hashing-384', config)).toBeInstanceOf(HashingEmbedding);
    const o = createEmbedding('openai:text-embedding-3-large', config);
    expect(o).toBeInstanceOf(OpenAIEmbedding);
    expect(o.modelId).toBe('openai:text-embedding-3-large@3072');
    const t = createEmbedding('transformers:Xenova/all-MiniLM-L6-v2', config);
    expect(t).toBeInstanceOf(TransformersEmbedding);
    expect(t.modelId).toBe('transformers:Xenova/all-MiniLM-L6-v2@384');
    expect(t.cacheable).toBe(true);
    // A model id is itself a valid spec.
    expect(createEmbedding(o.modelId, config).modelId).toBe(o.modelId);
    expect(createEmbedding(t.modelId, config).modelId).toBe(t.modelId);
  });

  it('rejects an unknown spec as invalid embeddingModel', () => {
    for (const spec of ['', 'cohere:embed-v3', 'openai:', 'transformers', 'hashing-512']) {
      const err = (() => {
        try {
          createEmbedding(spec, config);
        } catch (e) {
          return e;
        }
      })();
      expect(err, spec).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('embeddingModel');
    }
  });
});
