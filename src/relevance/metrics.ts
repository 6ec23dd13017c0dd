/**
 * Relevance metrics for one ranked list against a question's labels. Pure functions: the same
 * numbers whatever door or backend produced the ranking.
 *
 * The gain of a result is its relevance grade times its reward: a relevant, well-rated example is
 * worth most, a relevant but poorly rated one little, an unlabelled one nothing. nDCG@10 with that
 * gain values both relevance and reward among the relevant results, so tuning on it does not
 * simply drive the reward weight β to zero. hit@k and MRR count any relevant result (grade > 0).
 */

/** One ranked result as the metrics see it. */
export interface RankedItem {
  id: string;
  /** reward_score, 0..1. */
  score: number;
}

/** What a question counts as relevant: example id to grade (> 0), with each one's reward. */
export type Labels = Map<string, { grade: number; reward: number }>;

export interface QuestionMetrics {
  hitAt1: number;
  hitAt5: number;
  mrrAt10: number;
  ndcgAt10: number;
  /** 1-based rank of the first relevant result, or null when none is in the top 10. */
  firstRelevantRank: number | null;
}

export const CUTOFF = 10;

const gain = (grade: number, reward: number) => grade * reward;
const discount = (i: number) => 1 / Math.log2(i + 2);

export function questionMetrics(ranked: RankedItem[], labels: Labels): QuestionMetrics {
  const top = ranked.slice(0, CUTOFF);
  const first = top.findIndex((r) => (labels.get(r.id)?.grade ?? 0) > 0);
  let dcg = 0;
  top.forEach((r, i) => {
    const l = labels.get(r.id);
    // The reward the search saw, so a reward changed since labelling is judged as it is now.
    if (l && l.grade > 0) dcg += gain(l.grade, r.score) * discount(i);
  });
  const ideal = [...labels.values()]
    .filter((l) => l.grade > 0)
    .map((l) => gain(l.grade, l.reward))
    .sort((a, b) => b - a)
    .slice(0, CUTOFF)
    .reduce((s, g, i) => s + g * discount(i), 0);
  return {
    hitAt1: first === 0 ? 1 : 0,
    hitAt5: first >= 0 && first < 5 ? 1 : 0,
    mrrAt10: first >= 0 ? 1 / (first + 1) : 0,
    // All relevant examples at reward 0: nothing to gain, so ranking any of them first is perfect.
    ndcgAt10: ideal > 0 ? Math.min(1, dcg / ideal) : first >= 0 ? 1 : 0,
    firstRelevantRank: first >= 0 ? first + 1 : null,
  };
}

export interface MeanMetrics {
  hitAt1: number;
  hitAt5: number;
  mrrAt10: number;
  ndcgAt10: number;
}

/** Means over questions, rounded to 4 places. */
export function meanMetrics(all: QuestionMetrics[]): MeanMetrics {
  const mean = (f: (m: QuestionMetrics) => number) => (all.length === 0 ? 0 : Math.round((all.reduce((s, m) => s + f(m), 0) / all.length) * 1e4) / 1e4);
  return { hitAt1: mean((m) => m.hitAt1), hitAt5: mean((m) => m.hitAt5), mrrAt10: mean((m) => m.mrrAt10), ndcgAt10: mean((m) => m.ndcgAt10) };
}
