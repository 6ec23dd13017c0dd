import { describe, expect, it } from 'vitest';
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import { llamaIndexEmbedding } from '../../src/vectors/llamaindex-embedding.ts';
import { HashingEmbedding } from '../../src/embeddings/hashing.ts';

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot;
};
const norm = (v: ArrayLike<number>) => Math.sqrt(cosine(v, v));

describe('hashing embedding', () => {
  const e = new HashingEmbedding();

  it('is deterministic, 384-dimensional and unit length', async () => {
    const [a, b] = await e.embed(['How do I reverse a list in Python?', 'How do I reverse a list in Python?']);
    expect(e.modelId).toBe('hashing-384');
    expect(e.dimensions).toBe(384);
    expect(e.cacheable).toBe(false);
    expect(a).toBeInstanceOf(Float32Array);
    expect(a.length).toBe(384);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(norm(a)).toBeCloseTo(1, 5);
    // A fresh instance gives the very same vector.
    expect(Array.from((await new HashingEmbedding().embed(['How do I reverse a list in Python?']))[0])).toEqual(Array.from(a));
  });

  it('puts similar texts closer than unrelated ones', async () => {
    const [q, near, far] = await e.embed([
      'How do I reverse a list in Python?',
      'reversing a python list',
      'What is the capital of France?',
    ]);
    expect(cosine(q, near)).toBeGreaterThan(cosine(q, far));
    expect(cosine(q, near)).toBeGreaterThan(0.3);
    // Character 3-grams make case and word forms meet: "Sorting" vs "sorted".
    const [s1, s2, s3] = await e.embed(['Sorting arrays', 'sorted array', 'database migrations']);
    expect(cosine(s1, s2)).toBeGreaterThan(cosine(s1, s3));
  });

  it('gives an empty or symbol-only text the zero vector, not NaN', async () => {
    for (const v of await e.embed(['', '   ', '?!..'])) {
      expect(v.length).toBe(384);
      expect(v.every((x) => x === 0)).toBe(true);
    }
    const [unicode] = await e.embed(['Größe ändern — 日本語のテキスト']);
    expect(unicode.every(Number.isFinite)).toBe(true);
    expect(norm(unicode)).toBeCloseTo(1, 5);
  });

  it('works through the LlamaIndex BaseEmbedding interface', async () => {
    const li = llamaIndexEmbedding(e);
    expect(li).toBeInstanceOf(BaseEmbedding);
    const one = await li.getTextEmbedding('reverse a list');
    expect(Array.isArray(one)).toBe(true);
    expect(one.length).toBe(384);
    const many = await li.getTextEmbeddings(['reverse a list', 'sort a dict']);
    expect(many).toHaveLength(2);
    expect(many[0]).toEqual(one);
    const batched = await li.getTextEmbeddingsBatch(['reverse a list', 'sort a dict', 'parse json']);
    expect(batched[1]).toEqual(many[1]);
    expect(li.similarity(one, many[0])).toBeCloseTo(1, 5);
  });

  it('embeds 10k short prompts in well under a second', async () => {
    const texts = Array.from({ length: 10_000 }, (_, i) => `How do I sort a list of ${i} dictionaries by a key in Python without copying it?`);
    const t = performance.now();
    await e.embed(texts);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});
