import { prng } from '../src/datasets/near-dup.ts';
import { comparePaired, promotionGate } from '../src/evaluation/compare.ts';
import { fmt } from './support.ts';

/**
 * Issue 15's statistics figure: how often the promotion gate opens on synthetic paired scores with
 * a known true difference. Each example has its own difficulty (shared by both versions, which is
 * what pairing is for) plus independent noise per version (sd 0.2); B's scores are shifted by the
 * true difference. The gate opens when the 90% bootstrap-t interval's lower bound is above 0, so at a
 * true difference of 0 it should open at most 5% of the time.
 */
export async function benchEvaluation(trials = 500, nullTrials = 2000): Promise<void> {
  console.log(
    `\n## The promotion gate on synthetic paired scores (${nullTrials} trials at difference 0, where a rate's standard error is about 0.5 points; ${trials} at the others; 1,000 bootstrap resamples each; noise sd 0.2 per version; seeded)`,
  );
  console.log('| examples | true difference 0 (false promotions; goal ≤ 5%) | +0.03 (small) | +0.10 (large) |');
  console.log('|---|---|---|---|');
  for (const n of [30, 100, 200]) {
    const cells: string[] = [];
    for (const shift of [0, 0.03, 0.1]) {
      const rand = prng(1000 * n + Math.round(shift * 100));
      let opened = 0;
      const runs = shift === 0 ? nullTrials : trials;
      for (let t = 0; t < runs; t++) {
        const difficulty = Array.from({ length: n }, () => rand());
        const noise = () => (rand() + rand() + rand() - 1.5) * 0.4; // sd 0.2
        const a = difficulty.map((d) => d + noise());
        const b = difficulty.map((d) => d + shift + noise());
        if (promotionGate(comparePaired(a, b, { resamples: 1000, seed: t + 1 })).promote) opened++;
      }
      cells.push(`${fmt((100 * opened) / runs, 1)}%`);
    }
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
}
