import { describe, expect, it } from 'vitest';
import { prng } from '../../src/datasets/near-dup.ts';
import { comparePaired, promotionGate, signTest } from '../../src/evaluation/compare.ts';

describe('sign test', () => {
  it('gives the exact two-sided binomial p-value', () => {
    // 9 wins, 1 loss: 2 · (C(10,0) + C(10,1)) / 2^10.
    expect(signTest(9, 1)).toBeCloseTo((2 * 11) / 1024, 12);
    expect(signTest(1, 9)).toBeCloseTo((2 * 11) / 1024, 12);
    expect(signTest(5, 5)).toBe(1);
    expect(signTest(0, 0)).toBe(1);
    // Large counts stay finite (0.5^2000 underflows a double).
    const p = signTest(1100, 900);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-4);
  });
});

describe('comparePaired', () => {
  it('counts wins, ties and losses of B against A, and the mean difference', () => {
    const c = comparePaired([0, 0, 0.5, 1], [1, 1, 0.5, 0.5]);
    expect(c).toMatchObject({ n: 4, wins: 2, ties: 1, losses: 1, meanA: 0.375, meanB: 0.75, meanDifference: 0.375 });
    expect(c.interval.lower).toBeLessThanOrEqual(c.meanDifference);
    expect(c.interval.upper).toBeGreaterThanOrEqual(c.meanDifference);
  });

  it('gives the same interval for the same scores and seed', () => {
    const rand = prng(3);
    const a = Array.from({ length: 30 }, () => rand());
    const b = Array.from({ length: 30 }, () => rand());
    expect(comparePaired(a, b)).toEqual(comparePaired(a, b));
    expect(comparePaired(a, b, { seed: 2 }).interval).not.toEqual(comparePaired(a, b).interval);
  });

  it('refuses unpaired or empty scores', () => {
    expect(() => comparePaired([1], [1, 2])).toThrow(/same examples: 1 against 2/);
    expect(() => comparePaired([], [])).toThrow(/no examples/);
  });
});

describe('the promotion gate', () => {
  it('opens for a clear win, stays shut for a tie or a loss, and respects a margin', () => {
    const rand = prng(7);
    const a = Array.from({ length: 60 }, () => rand());
    const better = a.map((x) => Math.min(1, x + 0.2 + (rand() - 0.5) * 0.1));
    expect(promotionGate(comparePaired(a, better))).toMatchObject({ promote: true, reason: expect.stringMatching(/^better: .* wins, .* over 60 examples/) });
    expect(promotionGate(comparePaired(a, a)).promote).toBe(false);
    expect(promotionGate(comparePaired(better, a))).toMatchObject({ promote: false, reason: expect.stringMatching(/^not shown to be better/) });
    expect(promotionGate(comparePaired(a, better), 0.5).promote).toBe(false);
  });

  it("opens on clear wins with the judge's few distinct scores, and never gives an infinite bound", () => {
    // B against A per example: 1 (win), 0.5 (tie) or 0 (loss), as the judge's scores differ.
    const judged = (wins: number, ties: number, losses: number) =>
      comparePaired(Array(wins + ties + losses).fill(0.5), [...Array(wins).fill(1), ...Array(ties).fill(0.5), ...Array(losses).fill(0)]);
    for (const [w, t, l] of [[11, 1, 0], [18, 2, 0], [12, 0, 0]]) {
      const c = judged(w, t, l);
      expect(Number.isFinite(c.interval.lower) && Number.isFinite(c.interval.upper), `${w}/${t}/${l}`).toBe(true);
      expect(promotionGate(c).promote, `${w}/${t}/${l}`).toBe(true);
    }
    expect(promotionGate(judged(8, 4, 3)).promote).toBe(false);
    // At a true difference of 0 with such scores, it still opens about 5% of the time at most.
    const rand = prng(5);
    const pick = () => [0, 0.5, 1][Math.floor(rand() * 3)];
    let opened = 0;
    for (let k = 0; k < 300; k++) {
      const a = Array.from({ length: 30 }, pick);
      const b = Array.from({ length: 30 }, pick);
      if (promotionGate(comparePaired(a, b, { resamples: 1000, seed: k + 1 })).promote) opened++;
    }
    expect(opened / 300).toBeLessThan(0.1);
  });

  it('stays shut below 5 examples, however clean the sweep', () => {
    expect(promotionGate(comparePaired([0, 0, 0, 0], [1, 1, 1, 1]))).toMatchObject({ promote: false, reason: expect.stringMatching(/^too few examples to tell: 4/) });
    expect(promotionGate(comparePaired([0, 0, 0, 0, 0], [1, 1, 1, 1, 1])).promote).toBe(true);
  });

  it('opens at most about 5% of the time when there is no true difference', () => {
    const rand = prng(11);
    let opened = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      // Both versions score each example around its own difficulty, with independent noise.
      const difficulty = Array.from({ length: 40 }, () => rand());
      const a = difficulty.map((d) => d + (rand() - 0.5) * 0.4);
      const b = difficulty.map((d) => d + (rand() - 0.5) * 0.4);
      if (promotionGate(comparePaired(a, b, { resamples: 2000, seed: t + 1 })).promote) opened++;
    }
    // 5% nominal; the percentile bootstrap runs a little over it at n = 40, and 300 trials are noisy.
    expect(opened / trials).toBeLessThan(0.1);
  });
});
