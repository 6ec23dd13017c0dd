import { describe, expect, it } from 'vitest';
import { createEmbedding, loadEmbeddingConfig } from '../../src/embeddings/providers.ts';
import { HashingEmbeddingV2, terms } from '../../src/embeddings/hashing-v2.ts';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('hashing-v2 embedding', () => {
  const e = new HashingEmbeddingV2();

  it('is deterministic, 384-dimensional, unit length, and what the default spec names', async () => {
    const [a, b] = await e.embed(['Why does my Python list sort fail?', 'Why does my Python list sort fail?']);
    expect([e.modelId, e.dimensions, e.cacheable]).toEqual(['hashing-v2', 384, false]);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(dot(a, a)).toBeCloseTo(1, 5);
    expect(createEmbedding('hashing-v2', loadEmbeddingConfig({}))).toBeInstanceOf(HashingEmbeddingV2);
    expect(createEmbedding(e.modelId, loadEmbeddingConfig({})).modelId).toBe('hashing-v2');
    expect(Array.from((await e.embed(['...']))[0]).every((x) => x === 0)).toBe(true);
  });

  it('drops stop words, splits identifiers and stems words', () => {
    expect(terms('How do I read a CSV file in Python?')).toEqual(['read', 'csv', 'file', 'python']);
    expect(terms('readFileSync')).toEqual(['readfilesync', 'read', 'file', 'sync']);
    expect(terms('pg_hba.conf')).toEqual(['pg_hba.conf', 'pg', 'hba', 'conf']);
    expect(terms('error TS2307 --no-cache')).toEqual(['error', 'ts2307', 'ts', '2307', 'no-cache', 'no', 'cach']);
    expect(terms('sorting sorted sorts')).toEqual(['sort', 'sort', 'sort']);
    expect(terms('HTTPServer')).toEqual(['httpserver', 'http', 'server']);
  });

  it('matches what a question is about, not how questions are phrased', async () => {
    const [q, same, phrased] = await e.embed([
      'how do I remove duplicates from a list in python',
      'dedupe python list',
      'how do I do this in python',
    ]);
    expect(dot(q, same)).toBeGreaterThan(dot(q, phrased));
  });

  it("embeds an example from its prompt and, at a lower weight, its completion", async () => {
    const example = e.exampleText({ prompt: 'read a csv file', completion: 'Use csv.DictReader from the standard library.' });
    expect(example).toBe('read a csv file\u001fUse csv.DictReader from the standard library.');
    const [doc, byPrompt, byCompletion, unrelated] = await e.embed([example, 'read a csv file', 'DictReader standard library', 'kubernetes ingress']);
    // The completion counts: a query that only names what the answer uses still finds it.
    expect(dot(doc, byCompletion)).toBeGreaterThan(dot(doc, unrelated) + 0.1);
    // The prompt counts most.
    expect(dot(doc, byPrompt)).toBeGreaterThan(dot(doc, byCompletion));
    // Models that embed the prompt alone keep doing so.
    expect(createEmbedding('hashing', loadEmbeddingConfig({})).exampleText({ prompt: 'p', completion: 'c' })).toBe('p');
  });
});
