import { z } from 'zod';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import { actorNameSql, recordAudit, type Actor } from '../audit/audit.ts';
import type { Database } from '../db/database.ts';
import { ValidationError } from '../errors.ts';
import type { RetrieveOptions, RetrieveResult } from '../retrieval/retrieval.ts';
import { parseInput, uuid } from '../validation.ts';
import { parseLabelledSet, resolveLabelledSet, type ResolvedQuestion } from './labelled-set.ts';
import { CUTOFF, meanMetrics, questionMetrics, type MeanMetrics } from './metrics.ts';

/** α and β of one ranking compared. */
export interface Weights {
  similarityWeight: number;
  scoreWeight: number;
}

/** A question whose first relevant result was not ranked first, with what ranked above it. */
export interface Miss {
  line: number;
  query: string;
  /** Rank of the first relevant result, or null when none made the top 10. */
  firstRelevantRank: number | null;
  /** The best-graded relevant example. */
  target: { id: string; input: string };
  above: { rank: number; id: string; input: string; similarity: number | null; score: number; hybridScore: number | null }[];
}

export interface SettingResult extends Weights, MeanMetrics {
  misses: Miss[];
}

export interface EvaluationResult {
  agent: string;
  source: 'questions' | 'judgments';
  questions: number;
  settings: SettingResult[];
  /** Searches answered approximately (pgvector's HNSW); 0 when every metric comes from exact rankings. */
  approximateSearches: number;
  ms: number;
}

export interface TuneResult {
  agent: string;
  source: 'questions' | 'judgments';
  questions: number;
  /** The metric the best setting maximises. */
  objective: 'ndcgAt10';
  grid: (Weights & MeanMetrics)[];
  current: Weights & MeanMetrics;
  best: Weights & MeanMetrics;
  applied: boolean;
  /** As in EvaluationResult. */
  approximateSearches: number;
  ms: number;
}

/** The labelled set: JSONL text or a list of questions; the agent's stored judgments when omitted. */
export type LabelSource = string | unknown[] | undefined;

export const judgeInput = z.object({
  query: z.string().trim().min(1, 'must not be empty').max(2000).describe('The search query the result was found for'),
  exampleId: uuid.describe('The example judged'),
  grade: z.number().int().min(0).max(3).describe('0 not relevant, 1 relevant, 2 or 3 more so'),
});

export interface Judgment {
  query: string;
  exampleId: string;
  grade: number;
  judgedBy: string;
  /** Who, for people: the API key's name for key:<id>, otherwise judgedBy. */
  judgedByName: string;
  judgedAt: Date;
}

/**
 * Relevance you can measure: labelled questions (a file, or people's judgments of search results)
 * run through the same search users get, scored with hit@1, hit@5, MRR@10 and nDCG@10, and a
 * grid search of α and β on them.
 */
export class RelevanceService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly search: (options: RetrieveOptions) => Promise<RetrieveResult>,
  ) {}

  /** Scores the agent's search on a labelled set, for each weight setting compared (default: the agent's, and similarity alone). */
  async evaluate(agentRef: string, labels: LabelSource, compare?: Weights[]): Promise<EvaluationResult> {
    const t0 = performance.now();
    const agent = await this.agents.resolve(agentRef);
    const { source, questions } = await this.questions(agent, labels);
    const settings = compare?.length ? compare : uniqueWeights([agent, { similarityWeight: 1, scoreWeight: 0 }]);
    const inputs = await this.targetInputs(questions);
    const results: SettingResult[] = [];
    let approximateSearches = 0;
    for (const w of settings) {
      const { mean, misses, approximate } = await this.run(agent, questions, w, inputs);
      results.push({ ...pick(w), ...mean, misses });
      approximateSearches += approximate;
    }
    return { agent: agent.name, source, questions: questions.length, settings: results, approximateSearches, ms: Math.round(performance.now() - t0) };
  }

  /**
   * Grid search over α with β = 1 − α: scaling both weights never changes the order, so the ratio
   * is all there is to tune. The best setting maximises nDCG@10 (ties: MRR, then hit@1, then the
   * agent's current setting, then the larger α). `apply` stores it on the agent, audited.
   */
  async tune(agentRef: string, labels: LabelSource, opts: { step?: number; apply?: boolean; actor: Actor }): Promise<TuneResult> {
    const t0 = performance.now();
    const step = opts.step ?? 0.05;
    if (!(step > 0 && step <= 0.5)) throw new ValidationError('step', `must be above 0 and at most 0.5 (got ${step})`);
    const agent = await this.agents.resolve(agentRef);
    const { source, questions } = await this.questions(agent, labels);
    const alphas: number[] = [];
    for (let i = 0; i * step <= 1 + 1e-9; i++) alphas.push(round2(i * step));
    if (alphas[alphas.length - 1] !== 1) alphas.push(1);
    const grid: (Weights & MeanMetrics)[] = [];
    let approximateSearches = 0;
    const runOnce = async (w: Weights) => {
      const r = await this.run(agent, questions, w);
      approximateSearches += r.approximate;
      return r.mean;
    };
    for (const similarityWeight of alphas) {
      const w = { similarityWeight, scoreWeight: round2(1 - similarityWeight) };
      grid.push({ ...w, ...(await runOnce(w)) });
    }
    const current = pick(agent);
    // The agent's own weights, with the metrics of the grid point that ranks the same way when there is one.
    const onGrid = grid.find((g) => sameWeights(g, scaled(current)));
    const currentMetrics = { ...(onGrid ?? (await runOnce(current))), ...current };
    const best = [...grid].sort(
      (a, b) =>
        b.ndcgAt10 - a.ndcgAt10 || b.mrrAt10 - a.mrrAt10 || b.hitAt1 - a.hitAt1 ||
        Number(sameWeights(b, scaled(current))) - Number(sameWeights(a, scaled(current))) || b.similarityWeight - a.similarityWeight,
    )[0];
    let applied = false;
    if (opts.apply && !sameWeights(best, scaled(current))) {
      await this.db.transaction(async (tx) => {
        await tx.query('UPDATE agents SET similarity_weight = $2, score_weight = $3, updated_at = now() WHERE id = $1', [agent.id, best.similarityWeight, best.scoreWeight]);
        await recordAudit(tx, {
          actor: opts.actor,
          action: 'agent.tune',
          entityType: 'agent',
          entityId: agent.id,
          agentId: agent.id,
          details: { from: current, to: pick(best), objective: 'ndcgAt10', before: currentMetrics.ndcgAt10, after: best.ndcgAt10, questions: questions.length, source },
        });
      });
      applied = true;
    }
    return { agent: agent.name, source, questions: questions.length, objective: 'ndcgAt10', grid, current: currentMetrics, best, applied, approximateSearches, ms: Math.round(performance.now() - t0) };
  }

  /** Records that an example is (or is not) relevant to a query; a new judgment replaces the old. */
  async judge(agentRef: string, input: z.input<typeof judgeInput>, actor: Actor): Promise<Judgment> {
    const j = parseInput(judgeInput, input);
    const query = normalizeQuery(j.query);
    const agent = await this.agents.resolve(agentRef);
    return this.db.transaction(async (tx) => {
      const owns = await tx.query('SELECT 1 FROM training_examples WHERE id = $1 AND agent_id = $2', [j.exampleId, agent.id]);
      if (owns.rows.length === 0) throw new ValidationError('exampleId', `the agent has no example ${j.exampleId}`);
      const { rows } = await tx.query<Judgment>(
        `INSERT INTO relevance_judgments (agent_id, query, example_id, grade, judged_by) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agent_id, query, example_id) DO UPDATE SET grade = excluded.grade, judged_by = excluded.judged_by, judged_at = now()
         RETURNING query, example_id::text AS "exampleId", grade, judged_by AS "judgedBy", ${actorNameSql('judged_by')} AS "judgedByName", judged_at AS "judgedAt"`,
        [agent.id, query, j.exampleId, j.grade, actor],
      );
      await recordAudit(tx, { actor, action: 'judgment.set', entityType: 'relevance_judgment', entityId: j.exampleId, agentId: agent.id, details: { query, grade: j.grade } });
      return rows[0];
    });
  }

  /** The agent's judgments, newest first, optionally for one query. */
  async judgments(agentRef: string, opts: { query?: string; limit?: number } = {}): Promise<Judgment[]> {
    const agent = await this.agents.resolve(agentRef);
    const { rows } = await this.db.query<Judgment>(
      `SELECT query, example_id::text AS "exampleId", grade, judged_by AS "judgedBy", ${actorNameSql('judged_by')} AS "judgedByName", judged_at AS "judgedAt"
         FROM relevance_judgments WHERE agent_id = $1 AND ($2::text IS NULL OR query = $2)
        ORDER BY judged_at DESC, query, example_id LIMIT $3`,
      [agent.id, opts.query === undefined ? null : normalizeQuery(opts.query), opts.limit ?? 1000],
    );
    return rows;
  }

  private async questions(agent: AgentRef, labels: LabelSource): Promise<{ source: 'questions' | 'judgments'; questions: ResolvedQuestion[] }> {
    if (labels !== undefined) return { source: 'questions', questions: await resolveLabelledSet(this.db, agent.id, parseLabelledSet(labels)) };
    // Stored judgments: every query with at least one relevant example is a question.
    const { rows } = await this.db.query<{ query: string; exampleId: string; grade: number; reward: number }>(
      `SELECT j.query, j.example_id::text AS "exampleId", j.grade, e.reward_score AS reward
         FROM relevance_judgments j JOIN training_examples e ON e.id = j.example_id
        WHERE j.agent_id = $1 AND j.grade > 0 ORDER BY j.query, j.example_id`,
      [agent.id],
    );
    const byQuery = new Map<string, ResolvedQuestion>();
    for (const r of rows) {
      let q = byQuery.get(r.query);
      if (!q) byQuery.set(r.query, (q = { line: byQuery.size + 1, query: r.query, filters: {}, labels: new Map() }));
      q.labels.set(r.exampleId, { grade: r.grade, reward: r.reward });
    }
    if (byQuery.size === 0) {
      throw new ValidationError('questions', `agent "${agent.name}" has no relevance judgments yet: judge some search results, or give a labelled file`);
    }
    return { source: 'judgments', questions: [...byQuery.values()] };
  }

  /** Runs every question with one weight setting: the same search users get, top 10. */
  private async run(agent: AgentRef, questions: ResolvedQuestion[], w: Weights, inputs?: Map<string, string>): Promise<{ mean: MeanMetrics; misses: Miss[]; approximate: number }> {
    const all = [];
    const misses: Miss[] = [];
    let approximate = 0;
    for (const q of questions) {
      const { results, exact } = await this.search({ agentId: agent.id, query: q.query, topK: CUTOFF, ...q.filters, ...pick(w) });
      if (!exact) approximate++;
      const m = questionMetrics(results, q.labels);
      all.push(m);
      if (inputs && m.hitAt1 === 0) {
        const targetId = [...q.labels.entries()].sort((a, b) => b[1].grade - a[1].grade || b[1].reward - a[1].reward)[0][0];
        const cut = (m.firstRelevantRank ?? 6) - 1;
        misses.push({
          line: q.line,
          query: q.query,
          firstRelevantRank: m.firstRelevantRank,
          target: { id: targetId, input: inputs.get(targetId) ?? '' },
          above: results.slice(0, cut).map(({ rank, id, input, similarity, score, hybridScore }) => ({ rank, id, input, similarity, score, hybridScore })),
        });
      }
    }
    return { mean: meanMetrics(all), misses, approximate };
  }

  private async targetInputs(questions: ResolvedQuestion[]): Promise<Map<string, string>> {
    const ids = [...new Set(questions.flatMap((q) => [...q.labels.keys()]))];
    const { rows } = await this.db.query<{ id: string; prompt: string }>('SELECT id::text, prompt FROM training_examples WHERE id = ANY($1::uuid[])', [ids]);
    return new Map(rows.map((r) => [r.id, r.prompt]));
  }
}

export function normalizeQuery(query: string): string {
  return query.trim().replace(/\s+/g, ' ');
}

function pick(w: Weights): Weights {
  return { similarityWeight: w.similarityWeight, scoreWeight: w.scoreWeight };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** The same ranking direction on the α + β = 1 line (weights that sum to 0 rank nothing). */
function scaled(w: Weights): Weights {
  const sum = w.similarityWeight + w.scoreWeight;
  return sum > 0 ? { similarityWeight: w.similarityWeight / sum, scoreWeight: w.scoreWeight / sum } : w;
}

function sameWeights(a: Weights, b: Weights): boolean {
  return Math.abs(a.similarityWeight - b.similarityWeight) < 1e-9 && Math.abs(a.scoreWeight - b.scoreWeight) < 1e-9;
}

function uniqueWeights(ws: Weights[]): Weights[] {
  const out: Weights[] = [];
  for (const w of ws) if (!out.some((o) => sameWeights(o, w))) out.push(pick(w));
  return out;
}
