import { z } from 'zod';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Database } from '../db/database.ts';
import type { ExampleText } from '../embeddings/embedding.ts';
import { exampleType } from '../examples/example.ts';
import type { Proposal, SearchPlan, VectorIndex } from '../indexing/vector-index.ts';
import { filterSql, listExamplesFilter } from '../examples/examples.ts';
import { loadHeldOut, type HeldOut } from '../evaluation/held-out.ts';
import { isUuid, parseInput } from '../validation.ts';
import { hybridScore, type RowType } from '../vectors/vector-table.ts';

const weight = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');

export const retrieveInput = z.object({
  agentId: z.string().min(1).describe('Agent name or id'),
  query: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe('What to find examples for, e.g. the task at hand. Without it, examples rank by reward alone (negatives: lowest first)'),
  minScore: z.number().min(0).max(1).default(0).describe('Lowest reward_score to consider'),
  topK: z.number().int().min(1).max(200).default(5).describe('How many examples to return'),
  exampleType: exampleType.optional().describe('Only positive or only negative examples'),
  similarityWeight: weight.optional().describe("α, weight of similarity (default: the agent's)"),
  scoreWeight: weight.optional().describe("β, weight of reward (default: the agent's)"),
  diversity: z.number().min(0).max(1).default(0).describe('MMR diversity: 0 ranks by hybrid score only, 1 favours variety most'),
  dedupeThreshold: z.number().min(0).max(1).optional().describe('Drop results whose similarity to a better result is at least this (e.g. 0.95)'),
  // The list filters, applied exactly in SQL.
  maxScore: listExamplesFilter.shape.maxScore,
  contains: listExamplesFilter.shape.contains,
  createdAfter: listExamplesFilter.shape.createdAfter,
  createdBefore: listExamplesFilter.shape.createdBefore,
});
export type RetrieveOptions = z.input<typeof retrieveInput>;

/** One retrieved example, with every part of its score, so people can see why it ranked there. */
export interface RetrievedExample {
  id: string;
  /** The example's prompt. */
  input: string;
  /** The example's completion. */
  output: string;
  /** reward_score, 0..1. */
  score: number;
  /** Cosine similarity of the query and the example's embedding, -1..1 (below 0: it points away from the query); null without a query. */
  similarity: number | null;
  /** α · similarity + β · score (β · (1 − score) when ranking the most instructive negatives); null without a query. */
  hybridScore: number | null;
  /** 1-based. */
  rank: number;
  exampleType: RowType;
  metadata: Record<string, unknown>;
}

export interface RetrieveResult {
  results: RetrievedExample[];
  similarityWeight: number;
  scoreWeight: number;
  model: string;
  /** Whether the ranking is exact: false when pgvector's HNSW answered (it may miss a row of the true top k). */
  exact: boolean;
  /** What answered, when not exact, e.g. 'approximate (HNSW): pgvector, ef_search 200'. */
  plan?: string;
}

interface Candidate extends Proposal {
  prompt: string;
  completion: string;
  metadata: Record<string, unknown>;
}

/** How a search ranks, and what it leaves out; set by callers in code, never by the doors' input. */
export interface SearchControls {
  /** Rank low reward first (the most instructive negatives). */
  preferLowReward?: boolean;
  /**
   * Examples the search must skip as if they did not exist (an agent's eval-set examples and their
   * near duplicates, for grounding and few-shot). The result is still the top k of the rest.
   */
  heldOut?: HeldOut;
}

/**
 * The seed's hybrid_retrieve_best_examples. Exact SQL filters, exact cosine similarity, then the
 * hybrid rank. The in-memory index proposes candidates; PostgreSQL has the last word on every one
 * of them, so an example deleted or changed out of the filter is never returned, even while sync
 * is behind.
 */
export class RetrievalService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly index: VectorIndex,
    /** Orchestrator-wide weights; a call's own weights win, then these, then the agent's. */
    private readonly defaults: () => { similarityWeight?: number; scoreWeight?: number } = () => ({}),
  ) {}

  /**
   * Agents seen recently, by the name or id they were asked for. Saves a round trip per search;
   * every search's final read re-checks the agent, and a search that used a stale entry is redone.
   */
  private readonly agentCache = new Map<string, AgentRef>();

  async hybridRetrieveBestExamples(options: RetrieveOptions, ranking: SearchControls = {}): Promise<RetrieveResult> {
    const o = parseInput(retrieveInput, options);
    if (o.query === undefined) return this.byReward(o, ranking);
    let agent = this.agentCache.get(o.agentId);
    for (let attempt = 0; ; attempt++) {
      agent ??= await this.agents.resolve(o.agentId);
      this.agentCache.set(o.agentId, agent);
      const found = await this.search(agent, o, ranking);
      const current = found.agent === undefined && found.candidates.length === 0 ? await this.agents.resolve(o.agentId).catch(() => undefined) : found.agent;
      const asked = isUuid(o.agentId) ? current?.id === o.agentId : current?.name === o.agentId;
      if (current && asked && sameAgent(current, agent)) return found.result;
      // The cached agent was stale (changed, renamed or deleted): forget it and search again.
      this.agentCache.delete(o.agentId);
      agent = undefined;
      if (attempt > 0) throw new NotFoundError('agent', o.agentId);
    }
  }

  private async search(
    agent: AgentRef,
    o: z.output<typeof retrieveInput>,
    ranking: SearchControls,
  ): Promise<{ result: RetrieveResult; candidates: Candidate[]; agent: AgentRef | undefined }> {
    const { alpha, beta } = this.weights(o, agent);
    const embedder = this.index.embedder(agent.embeddingModel);
    const [query] = await embedder.embed([o.query!]);
    // Ranking the most instructive negatives: low reward is better, so score with −β and add β back.
    const b = ranking.preferLowReward ? -beta : beta;
    const shift = ranking.preferLowReward ? beta : 0;
    const filter = { minReward: o.minScore, types: o.exampleType ? [o.exampleType] : undefined, alpha, beta: b };
    const needsPool = o.diversity > 0 || o.dedupeThreshold !== undefined;
    const pool = needsPool ? Math.max(o.topK * 5, 50) : o.topK;
    const sqlOnly = o.maxScore !== undefined || o.contains || o.createdAfter || o.createdBefore;

    const embed = (examples: ExampleText[]) => embedder.embedExamples(examples);
    const withVectors = needsPool;
    // One approximate proposal makes the whole answer approximate.
    let approximate: string | undefined;
    const onPlan = (p: SearchPlan) => { if (!p.exact) approximate ??= p.plan; };
    let verified: { candidates: Candidate[]; agent: AgentRef | undefined } = { candidates: [], agent: undefined };
    const heldOut = ranking.heldOut;
    // Filters the index cannot see: SQL picks the rows (never a held-out member), the index scores exactly those.
    const onlyIds = sqlOnly ? (await this.filteredIds(agent.id, o)).filter((id) => !heldOut?.ids.has(id)) : undefined;
    // The index proposes its top `want`; verification drops what is stale or out of the filter,
    // and the held-out check drops eval-set members and their near duplicates. What is left is
    // the top of the remaining examples, so while fewer than `pool` are left and the index had
    // more, ask for twice as many. (Filtering one top k would return fewer than k whenever a
    // held-out example ranked high.) SQL-only rows are all scored at once, so one pass is the
    // answer unless held-out rows were dropped.
    for (let want = sqlOnly ? pool * 2 : pool; ; want *= 2) {
      const proposed = await this.index.propose(agent, query, want, filter, { onlyIds, withVectors, onPlan });
      verified = await this.verify(agent.id, o, proposed, query, embed, filter);
      if (heldOut) verified.candidates = heldOut.filter(verified.candidates);
      if ((sqlOnly && !heldOut) || verified.candidates.length >= pool || proposed.length < want) break;
    }
    const candidates = verified.candidates;
    candidates.sort((x, y) => y.hybrid - x.hybrid || x.row - y.row);
    let chosen = candidates;
    if (o.dedupeThreshold !== undefined) chosen = dropNearDuplicates(chosen, o.dedupeThreshold);
    chosen = o.diversity > 0 ? mmr(chosen, o.topK, 1 - o.diversity) : chosen.slice(0, o.topK);
    const result: RetrieveResult = {
      results: chosen.map((c, i) => ({
        id: c.id,
        input: c.prompt,
        output: c.completion,
        score: c.reward,
        similarity: round(c.similarity),
        hybridScore: round(c.hybrid + shift),
        rank: i + 1,
        exampleType: c.type,
        metadata: c.metadata,
      })),
      similarityWeight: alpha,
      scoreWeight: beta,
      model: embedder.provider.modelId,
      exact: approximate === undefined,
      ...(approximate !== undefined && { plan: approximate }),
    };
    return { result, candidates, agent: verified.agent };
  }

  /** α and β: the call's, else the orchestrator's, else the agent's. */
  private weights(o: z.output<typeof retrieveInput>, agent: AgentRef): { alpha: number; beta: number } {
    const defaults = this.defaults();
    return {
      alpha: o.similarityWeight ?? defaults.similarityWeight ?? agent.similarityWeight,
      beta: o.scoreWeight ?? defaults.scoreWeight ?? agent.scoreWeight,
    };
  }

  /**
   * Without a query there is no similarity: the seed's Strategy 3 asks for "the best" of a type, so
   * examples rank by reward, best first, or lowest first for negatives (the most instructive).
   */
  private async byReward(o: z.output<typeof retrieveInput>, ranking: SearchControls): Promise<RetrieveResult> {
    if (o.diversity > 0) throw new ValidationError('diversity', 'needs a query: it trades relevance to the query for variety');
    if (o.dedupeThreshold !== undefined) throw new ValidationError('dedupeThreshold', 'needs a query: near duplicates are found by the query index');
    const agent = await this.agents.resolve(o.agentId);
    const { alpha, beta } = this.weights(o, agent);
    const lowFirst = ranking.preferLowReward || o.exampleType === 'negative';
    const { clauses, params } = filterSql(o, [agent.id]);
    const heldOut = ranking.heldOut;
    if (heldOut) {
      // Members are left out in SQL; near duplicates are known only by their text, so widen until k are left.
      params.push([...heldOut.ids]);
      clauses.push(`NOT (id = ANY($${params.length}::uuid[]))`);
    }
    params.push(o.topK);
    type Row = { id: string; prompt: string; completion: string; reward: number; type: RowType; metadata: Record<string, unknown> };
    let rows: Row[] = [];
    for (let limit = o.topK; ; limit *= 2) {
      params[params.length - 1] = limit;
      ({ rows } = await this.db.query<Row>(
        `SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, metadata
           FROM training_examples WHERE ${clauses.join(' AND ')}
          ORDER BY reward_score ${lowFirst ? 'ASC' : 'DESC'}, created_at DESC, id LIMIT $${params.length}`,
        params,
      ));
      const fetched = rows.length;
      if (heldOut) rows = heldOut.filter(rows);
      if (rows.length >= o.topK || fetched < limit) break;
    }
    rows = rows.slice(0, o.topK);
    return {
      results: rows.map((r, i) => ({
        id: r.id,
        input: r.prompt,
        output: r.completion,
        score: r.reward,
        similarity: null,
        hybridScore: null,
        rank: i + 1,
        exampleType: r.type,
        metadata: r.metadata,
      })),
      similarityWeight: alpha,
      scoreWeight: beta,
      model: this.index.embedder(agent.embeddingModel).provider.modelId,
      exact: true,
    };
  }

  /**
   * The seed's Strategy 3: a balanced mix. The best positive examples by hybrid score, and the
   * most instructive negative ones: similar to the query and clearly bad (low reward ranks first).
   */
  async retrieveBalanced(
    options: Omit<RetrieveOptions, 'exampleType'> & { positiveRatio?: number },
    controls: { excludeHeldOut?: boolean } = {},
  ): Promise<{
    positive: RetrievedExample[]; negative: RetrievedExample[]; similarityWeight: number; scoreWeight: number; model: string; exact: boolean; plan?: string;
    /** With excludeHeldOut: how many eval-set examples were held out (near duplicates not counted). */
    heldOut: number;
  }> {
    const topK = options.topK ?? 6;
    const nPositive = Math.max(1, Math.round(topK * (options.positiveRatio ?? 0.5)));
    const { positiveRatio: _, ...rest } = options;
    // excludeHeldOut (the optimizer's grounding, few-shot prompts): the agent's eval-set examples
    // and their near duplicates are skipped, since what a prompt is scored on must not have taught
    // it. Read once for both halves; an agent with no eval set costs one query that finds nothing.
    const heldOut = controls.excludeHeldOut ? await loadHeldOut(this.db, options.agentId) : undefined;
    const pos = await this.hybridRetrieveBestExamples({ ...rest, topK: nPositive, exampleType: 'positive' }, { heldOut });
    const neg =
      topK - nPositive > 0
        ? await this.hybridRetrieveBestExamples({ ...rest, minScore: 0, topK: topK - nPositive, exampleType: 'negative' }, { preferLowReward: true, heldOut })
        : { results: [], exact: true, plan: undefined };
    const plan = pos.plan ?? neg.plan;
    return {
      positive: pos.results, negative: neg.results, similarityWeight: pos.similarityWeight, scoreWeight: pos.scoreWeight, model: pos.model,
      exact: pos.exact && neg.exact, ...(plan !== undefined && { plan }),
      heldOut: heldOut?.size ?? 0,
    };
  }

  /** Re-reads the candidates from PostgreSQL with the filters applied; corrects stale entries. */
  private async verify(
    agentId: string,
    o: z.output<typeof retrieveInput>,
    proposed: Proposal[],
    query: Float32Array,
    embed: (examples: ExampleText[]) => Promise<Float32Array[]>,
    filter: { alpha: number; beta: number },
  ): Promise<{ candidates: Candidate[]; agent: AgentRef | undefined }> {
    if (proposed.length === 0) return { candidates: [], agent: undefined };
    // One round trip reads the candidates and the agent as it is now (to catch a stale cache entry).
    const { rows: all } = await this.db.query<{
      agentName: string; similarityWeight: number; scoreWeight: number; embeddingModel: string;
      id: string | null; prompt: string; completion: string; reward: number; type: RowType; hash: string; metadata: Record<string, unknown>;
    }>(
      `SELECT a.name AS "agentName", a.similarity_weight AS "similarityWeight", a.score_weight AS "scoreWeight",
              a.embedding_model AS "embeddingModel", e.*
         FROM agents a LEFT JOIN LATERAL (
           SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash, metadata
             FROM training_examples
            WHERE id = ANY($1::uuid[]) AND agent_id = a.id AND reward_score >= $3 AND ($4::text IS NULL OR example_type = $4)
         ) e ON true
        WHERE a.id = $2`,
      [proposed.map((p) => p.id), agentId, o.minScore, o.exampleType ?? null],
    );
    const agent: AgentRef | undefined = all[0] && {
      id: agentId,
      name: all[0].agentName,
      similarityWeight: all[0].similarityWeight,
      scoreWeight: all[0].scoreWeight,
      embeddingModel: all[0].embeddingModel,
    };
    const rows = all.filter((r): r is typeof r & { id: string } => r.id !== null);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: Candidate[] = [];
    const staleRows: Candidate[] = [];
    for (const p of proposed) {
      const r = byId.get(p.id);
      if (!r) continue; // deleted, or changed out of the filter since the index saw it
      const c: Candidate = { ...p, reward: r.reward, type: r.type, prompt: r.prompt, completion: r.completion, metadata: r.metadata };
      if (r.hash !== p.indexedHash) staleRows.push(c);
      c.hybrid = hybridScore(c.similarity, c.reward, filter.alpha, filter.beta);
      out.push(c);
    }
    if (staleRows.length > 0) {
      // The example changed since it was indexed: score it with a fresh embedding.
      const vectors = await embed(staleRows);
      staleRows.forEach((c, i) => {
        c.similarity = dot(vectors[i], query);
        if (c.vector) c.vector = vectors[i];
        c.hybrid = hybridScore(c.similarity, c.reward, filter.alpha, filter.beta);
      });
    }
    return { candidates: out, agent };
  }

  private async filteredIds(agentId: string, o: z.output<typeof retrieveInput>): Promise<string[]> {
    const { clauses, params } = filterSql(o, [agentId]);
    const { rows } = await this.db.query<{ id: string }>(`SELECT id::text FROM training_examples WHERE ${clauses.join(' AND ')}`, params);
    return rows.map((r) => r.id);
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Greedy: keep a result unless it is at least `threshold` similar to a better one already kept. */
function dropNearDuplicates(ranked: Candidate[], threshold: number): Candidate[] {
  const kept: Candidate[] = [];
  for (const c of ranked) {
    if (kept.every((k) => dot(k.vector!, c.vector!) < threshold)) kept.push(c);
  }
  return kept;
}

/** Maximal marginal relevance: λ · hybrid − (1 − λ) · (highest similarity to an already chosen result). */
function mmr(ranked: Candidate[], k: number, lambda: number): Candidate[] {
  const chosen: Candidate[] = [];
  const left = [...ranked];
  while (chosen.length < k && left.length > 0) {
    let best = 0;
    let bestScore = -Infinity;
    left.forEach((c, i) => {
      const redundancy = chosen.length === 0 ? 0 : chosen.reduce((m, s) => Math.max(m, dot(s.vector!, c.vector!)), -Infinity);
      const score = lambda * c.hybrid - (1 - lambda) * redundancy;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    });
    chosen.push(left.splice(best, 1)[0]);
  }
  return chosen;
}

function sameAgent(a: AgentRef, b: AgentRef): boolean {
  return a.id === b.id && a.name === b.name && a.similarityWeight === b.similarityWeight &&
    a.scoreWeight === b.scoreWeight && a.embeddingModel === b.embeddingModel;
}
