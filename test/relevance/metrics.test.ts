import { describe, expect, it } from 'vitest';
import { meanMetrics, questionMetrics, type Labels } from '../../src/relevance/metrics.ts';

const ranked = (...ids: string[]) => ids.map((id) => ({ id, score: 1 }));

describe('relevance metrics', () => {
  it('count the first relevant result for hit@1, hit@5 and MRR@10', () => {
    const labels: Labels = new Map([['t', { grade: 1, reward: 1 }]]);
    expect(questionMetrics(ranked('t', 'a'), labels)).toMatchObject({ hitAt1: 1, hitAt5: 1, mrrAt10: 1, ndcgAt10: 1, firstRelevantRank: 1 });
    expect(questionMetrics(ranked('a', 'b', 't'), labels)).toMatchObject({ hitAt1: 0, hitAt5: 1, mrrAt10: 1 / 3, firstRelevantRank: 3 });
    expect(questionMetrics(ranked('a', 'b', 'c', 'd', 'e', 't'), labels)).toMatchObject({ hitAt1: 0, hitAt5: 0, mrrAt10: 1 / 6 });
    const far = ranked(...'abcdefghij'.split(''), 't');
    expect(questionMetrics(far, labels)).toEqual({ hitAt1: 0, hitAt5: 0, mrrAt10: 0, ndcgAt10: 0, firstRelevantRank: null });
    // A grade of 0 means "judged not relevant".
    expect(questionMetrics(ranked('x', 't'), new Map([['x', { grade: 0, reward: 1 }], ['t', { grade: 1, reward: 1 }]]))).toMatchObject({ hitAt1: 0, mrrAt10: 0.5 });
  });

  it('nDCG@10 gains grade × reward, so the better-rated of two relevant examples should come first', () => {
    const labels: Labels = new Map([['good', { grade: 1, reward: 0.9 }], ['meh', { grade: 1, reward: 0.3 }]]);
    const best = questionMetrics([{ id: 'good', score: 0.9 }, { id: 'meh', score: 0.3 }], labels);
    const swapped = questionMetrics([{ id: 'meh', score: 0.3 }, { id: 'good', score: 0.9 }], labels);
    expect(best.ndcgAt10).toBeCloseTo(1, 10);
    // DCG = 0.3 + 0.9/log2(3); ideal = 0.9 + 0.3/log2(3).
    expect(swapped.ndcgAt10).toBeCloseTo((0.3 + 0.9 / Math.log2(3)) / (0.9 + 0.3 / Math.log2(3)), 10);
    expect(swapped.hitAt1).toBe(1); // both are relevant
    // A higher grade outweighs a better reward.
    const graded: Labels = new Map([['exact', { grade: 2, reward: 0.5 }], ['near', { grade: 1, reward: 0.9 }]]);
    expect(questionMetrics([{ id: 'exact', score: 0.5 }, { id: 'near', score: 0.9 }], graded).ndcgAt10).toBeCloseTo(1, 10);
  });

  it('averages over questions', () => {
    const labels: Labels = new Map([['t', { grade: 1, reward: 1 }]]);
    expect(meanMetrics([questionMetrics(ranked('t'), labels), questionMetrics(ranked('a', 't'), labels)])).toEqual({
      hitAt1: 0.5, hitAt5: 1, mrrAt10: 0.75, ndcgAt10: Math.round(((1 + 1 / Math.log2(3)) / 2) * 1e4) / 1e4,
    });
    expect(meanMetrics([])).toEqual({ hitAt1: 0, hitAt5: 0, mrrAt10: 0, ndcgAt10: 0 });
  });
});
