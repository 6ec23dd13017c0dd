import { createHash } from 'node:crypto';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import { redactUrl } from '../config/config.ts';
import { OPENAI_DEFAULT_BASE_URL, type LlmConfig } from '../config/providers.ts';
import type { Database, Queryable } from '../db/database.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { LlmRequest } from '../llm/llm.ts';
import type { PromptService } from '../prompts/prompts.ts';
import { scrub } from '../remote/retry.ts';
import { isUuid } from '../validation.ts';
import { comparePaired, promotionGate } from './compare.ts';
import { JUDGE_RETRY_NOTE, judgeRequest, parseVerdict, type JudgeInput } from './judge.ts';
import { cachedComplete, cachedKeys, callKey, type CallTarget } from './llm-cache.ts';
import { costOf, priceOf } from './pricing.ts';
import type {
  CompareSide,
  EvalChecks,
  EvalComparison,
  EvalEstimate,
  EvalEstimateOptions,
  EvalPair,
  EvalProgress,
  EvalProviderName,
  EvalResult,
  EvalRun,
  EvalRunOptions,
  EvalPairOutcome,
  EvalRunOutcome,
  EvalRunSummary,
  EvalScores,
  EvalScoringConfig,
  JudgeVerdict,
  LatestScore,
  ModelPrice,
  PromptChoice,
} from './run-types.ts';
import { normalizePrompt } from './eval-sets.ts';
import { checkScores, similarityScore, validateChecks, type AnswerPattern } from './scorers.ts';

export type * from './run-types.ts';

export const DEFAULT_EVAL_CONCURRENCY = 4;
export const MAX_EVAL_CONCURRENCY = 16;
export const DEFAULT_EVAL_MAX_TOKENS = 1024;
const MAX_EVAL_MAX_TOKENS = 64_000;
/** A verdict and a sentence or two of rationale. */
const JUDGE_MAX_TOKENS = 512;
/** What the estimate assumes a verdict costs in output tokens. */
const JUDGE_REPLY_TOKENS_GUESS = 80;
/** Rubric examples beyond the item's own: a few, so the judge's request stays small. */
const RUBRIC_EXAMPLES = 2;
/** A rubric example longer than this is cut: it shows a style, it need not be whole. */
const RUBRIC_CHARS = 2000;
/** Confidence of a run's interval, as compare.ts's default. */
const CONFIDENCE = 0.9;
const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
/** Temperature 0: the same inputs give (nearly) the same answer, which is what a cache and a comparison want. */
const TEMPERATURE = 0;

interface Item {
  exampleId: string;
  prompt: string;
  reference: string;
  contrasts: string[];
}

/** Everything a run or an estimate is made of, resolved and validated. */
interface Plan {
  agent: AgentRef;
  set: { id: string; version: number };
  prompt: { version: number | null; content: string | null; hash: string };
  answer: { provider: EvalProviderName; model: string; endpoint: string };
  judge: { provider: EvalProviderName; model: string; endpoint: string } | null;
  checks: EvalChecks;
  regex: AnswerPattern | null;
  maxTokens: number;
  concurrency: number;
  scoring: EvalScoringConfig;
  scoringHash: string;
  items: Item[];
  rubric: { good: { question: string; answer: string }[]; bad: { question: string; answer: string }[] };
  notes: string[];
}

const RUN_COLUMNS = `r.id::text, a.name AS agent, r.eval_set_id::text AS "evalSetId", r.eval_set_version AS "evalSetVersion",
  r.prompt_version AS "promptVersion", r.prompt_content_hash AS "promptContentHash", r.provider, r.model,
  r.judge_provider AS "judgeProvider", r.judge_model AS "judgeModel", r.scoring, r.scoring_hash AS "scoringHash",
  r.status, r.error, r.items, r.scored, r.failed_items AS "failedItems", r.cached_items AS "cachedItems",
  r.mean_score AS "meanScore", r.ci_confidence, r.ci_lower, r.ci_upper, r.mean_similarity AS "meanSimilarity",
  r.mean_judge AS "meanJudge", r.input_tokens::float8 AS "inputTokens", r.output_tokens::float8 AS "outputTokens",
  r.estimated_cost_usd AS "estimatedCostUsd", r.cost_usd AS "costUsd", r.created_by AS "createdBy",
  r.created_at AS "createdAt", r.finished_at AS "finishedAt"`;

type RunRow = Omit<EvalRunSummary, 'interval'> & { ci_confidence: number | null; ci_lower: number | null; ci_upper: number | null };

/**
 * Evaluation runs (issue 15, item 2): a prompt version (or no system prompt) answers every item of
 * an eval set through an LLM provider, with bounded concurrency; each answer is scored offline
 * (similarity to the reference against the contrast answers, and optional checks) and by a
 * pairwise LLM judge. Results are stored per example as they complete, and every model call goes
 * through a cache, so a run that failed halfway is resumed by running it again, paying only for
 * what it had not done.
 */
export class EvalRunService {
  constructor(
    private readonly db: Database,
    private readonly agents: Pick<AgentService, 'resolve'>,
    private readonly prompts: Pick<PromptService, 'get'>,
    private readonly embedderFor: (spec: string) => CachedEmbedder,
    private readonly llmConfig: LlmConfig,
  ) {}

  /** What a run would cost: requests, tokens (4 characters a token) and USD when the prices are known. */
  async estimate(agentRef: string, options: EvalEstimateOptions): Promise<EvalEstimate> {
    const plan = await this.plan(agentRef, options);
    return this.estimatePlan(plan);
  }

  /**
   * Runs an evaluation, or only estimates it (dryRun). A provider that fails for good (after its
   * retries) ends the run 'failed' with the error, keeping the results already stored; the outcome
   * is returned, not thrown, so the caller sees both. Running the same again resumes from the cache.
   */
  async run(agentRef: string, options: EvalRunOptions, actor: Actor, progress?: EvalProgress): Promise<EvalRunOutcome> {
    const plan = await this.plan(agentRef, options);
    const estimate = await this.estimatePlan(plan);
    const notes = [...plan.notes];
    progress?.(0, plan.items.length, `estimate: ${describeEstimate(estimate)}`);
    if (options.dryRun) return { estimate, run: null, notes };

    const runId = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO eval_runs (agent_id, eval_set_id, eval_set_version, prompt_version, prompt_content_hash, provider, model,
                                judge_provider, judge_model, scoring, scoring_hash, items, estimated_cost_usd, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id::text`,
        [
          plan.agent.id, plan.set.id, plan.set.version, plan.prompt.version, plan.prompt.hash, plan.answer.provider, plan.answer.model,
          plan.judge?.provider ?? null, plan.judge?.model ?? null, plan.scoring, plan.scoringHash, plan.items.length, estimate.costUsd, actor,
        ],
      );
      await recordAudit(tx, {
        actor,
        action: 'eval_run.start',
        entityType: 'eval_run',
        entityId: rows[0].id,
        agentId: plan.agent.id,
        details: {
          evalSetVersion: plan.set.version, promptVersion: plan.prompt.version, provider: plan.answer.provider, model: plan.answer.model,
          judge: plan.judge ? { provider: plan.judge.provider, model: plan.judge.model } : null, items: plan.items.length, estimatedCostUsd: estimate.costUsd,
        },
      });
      return rows[0].id;
    });

    let failure: string | null = null;
    const paid = { answer: { in: 0, out: 0 }, judge: { in: 0, out: 0 } };
    try {
      const { createLlmProvider } = await import('../llm/provider.ts'); // the SDKs load only when a run starts
      const answerer: CallTarget = { provider: createLlmProvider(plan.answer.provider, this.llmConfig, plan.answer.model), endpoint: plan.answer.endpoint };
      const judge: CallTarget | null = plan.judge
        ? { provider: createLlmProvider(plan.judge.provider, this.llmConfig, plan.judge.model), endpoint: plan.judge.endpoint }
        : null;
      const embedder = this.embedderFor(plan.agent.embeddingModel);
      // References and contrasts are embedded once, up front; each answer as it comes.
      const texts = plan.items.flatMap((i) => [i.reference, ...i.contrasts]);
      const vectors = texts.length ? await embedder.embed(texts) : [];
      let at = 0;
      const itemVectors = plan.items.map((i) => {
        const reference = vectors[at++];
        const contrasts = i.contrasts.map(() => vectors[at++]);
        return { reference, contrasts };
      });

      // One bulk lookup of the answers, so a cold run does not look each one up again.
      const answerKeys = plan.items.map((item) => callKey({ name: plan.answer.provider, model: plan.answer.model, endpoint: plan.answer.endpoint }, answerRequest(plan, item)));
      const cachedAnswers = await cachedKeys(this.db, answerKeys);
      let next = 0;
      let done = 0;
      let fatal: unknown = null;
      const worker = async () => {
        while (fatal === null && next < plan.items.length) {
          const index = next++;
          const item = plan.items[index];
          let r: string;
          try {
            r = await this.evaluateItem(runId, plan, item, itemVectors[index], answerer, judge, embedder, paid, !cachedAnswers.has(answerKeys[index]));
            done++;
          } catch (err) {
            fatal ??= err;
            continue;
          }
          // A progress listener that throws (a client gone) does not end the run; the results are stored anyway.
          try {
            progress?.(done, plan.items.length, `${item.exampleId}: ${r}`);
          } catch {
            // ignored on purpose
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(plan.concurrency, plan.items.length)) }, worker));
      if (fatal !== null) throw fatal;
    } catch (err) {
      failure = this.secretFree(err instanceof Error ? err.message : String(err));
    }

    const prices = estimate.prices;
    const costUsd =
      (paid.answer.in + paid.answer.out > 0 && !prices.answer) || (paid.judge.in + paid.judge.out > 0 && !prices.judge)
        ? null
        : (prices.answer ? costOf(prices.answer, paid.answer.in, paid.answer.out) : 0) + (prices.judge ? costOf(prices.judge, paid.judge.in, paid.judge.out) : 0);
    await this.finish(runId, failure, costUsd);
    if (failure) notes.push(`the run failed: ${failure}; run it again to resume (calls already made come from the cache and cost nothing)`);
    return { estimate, run: await this.get(runId), notes };
  }

  /**
   * Evaluates `promptVersion`, then `against` with the same options, and compares them (B the
   * version, A the baseline); each run is half of the progress. A version's run that does not
   * complete is not worth a baseline, so none is paid for; a dry run estimates both.
   */
  async runAgainst(
    agentRef: string,
    options: EvalRunOptions & { against: PromptChoice; margin?: number },
    actor: Actor,
    progress?: EvalProgress,
  ): Promise<EvalPairOutcome> {
    const { against, margin, ...common } = options;
    const half = (offset: number, choice: PromptChoice): EvalProgress | undefined =>
      progress && ((done, total, message) => progress(offset * total + done, 2 * total, `${choiceName(choice)}: ${message ?? `${done} of ${total}`}`));
    const run = await this.run(agentRef, common, actor, half(0, common.promptVersion));
    if (run.run && run.run.status !== 'completed') {
      return { run, baseline: null, comparison: null, notes: [...run.notes, `not compared with ${choiceName(against)}: this run ${run.run.status}; run it again to resume`] };
    }
    const baseline = await this.run(agentRef, { ...common, promptVersion: against }, actor, half(1, against));
    const notes = [...run.notes, ...baseline.notes];
    if (!run.run || !baseline.run) return { run, baseline, comparison: null, notes };
    if (baseline.run.status !== 'completed') {
      return { run, baseline, comparison: null, notes: [...notes, `not compared: the run of ${choiceName(against)} ${baseline.run.status}; run it again to resume`] };
    }
    return { run, baseline, comparison: await this.compare(agentRef, baseline.run.id, run.run.id, { margin }), notes };
  }

  /** A run with its per-example results, each joined to the example's prompt, reference and contrasts. */
  async get(runId: string): Promise<EvalRun> {
    if (typeof runId !== 'string' || !isUuid(runId)) throw new ValidationError('runId', `must be a run id (a UUID), got ${JSON.stringify(runId)}`);
    const summary = await this.summary(this.db, runId);
    const { rows } = await this.db.query<Omit<EvalResult, 'contrasts'>>(
      `SELECT r.example_id::text AS "exampleId", e.prompt, e.completion AS reference,
              r.answer, r.scores, r.primary_score AS "primaryScore", r.verdict, r.rationale, r.error,
              r.input_tokens AS "inputTokens", r.output_tokens AS "outputTokens", r.latency_ms AS "latencyMs", r.cached
         FROM eval_results r LEFT JOIN training_examples e ON e.id = r.example_id
        WHERE r.run_id = $1 ORDER BY r.example_id`,
      [runId],
    );
    // The set's contrasts, matched to items by normalised prompt here: in SQL, a correlated
    // regexp_replace per result took 1.9 s for 200 results on PGlite.
    const { rows: contrasts } = await this.db.query<{ prompt: string; completion: string }>(
      `SELECT c.prompt, c.completion FROM eval_set_examples m JOIN training_examples c ON c.id = m.example_id
        WHERE m.eval_set_id = $1 AND m.role = 'contrast' ORDER BY c.id`,
      [summary.evalSetId],
    );
    const contrastsOf = contrastAnswers(contrasts);
    return { ...summary, results: rows.map((r) => ({ ...r, contrasts: r.prompt === null ? [] : contrastsOf(r.prompt) })) };
  }

  /** An agent's runs, newest first, optionally of one prompt version ('none': no system prompt). */
  async list(agentRef: string, options: { promptVersion?: number | 'none' } = {}): Promise<EvalRunSummary[]> {
    const agent = await this.agents.resolve(agentRef);
    const pv = options.promptVersion;
    if (pv !== undefined && pv !== 'none' && !(Number.isInteger(pv) && pv > 0)) {
      throw new ValidationError('promptVersion', `must be a version number or "none", got ${JSON.stringify(pv)}`);
    }
    const { rows } = await this.db.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM eval_runs r JOIN agents a ON a.id = r.agent_id
        WHERE r.agent_id = $1 AND ($2::boolean IS NULL OR ($2 AND r.prompt_version IS NULL) OR r.prompt_version = $3::int)
        ORDER BY r.created_at DESC, r.id`,
      [agent.id, pv === undefined ? null : pv === 'none', typeof pv === 'number' ? pv : null],
    );
    return rows.map(toSummary);
  }

  /**
   * The paired comparison of two prompt versions (or 'none', 'production', or run ids): the latest
   * completed runs of each on the same eval set version, scoring and answering model, paired per
   * example A scored (B's unscored ones count as its worst). wins/ties/losses count B against A;
   * the gate says whether B beats A by more than `margin`.
   */
  async compare(agentRef: string, a: CompareSide, b: CompareSide, options: { evalSetVersion?: number; margin?: number } = {}): Promise<EvalComparison> {
    const agent = await this.agents.resolve(agentRef);
    if (options.evalSetVersion !== undefined && !(Number.isInteger(options.evalSetVersion) && options.evalSetVersion > 0)) {
      throw new ValidationError('evalSetVersion', `must be a positive whole number, got ${JSON.stringify(options.evalSetVersion)}`);
    }
    const margin = options.margin ?? 0;
    if (typeof margin !== 'number' || !Number.isFinite(margin) || margin < 0 || margin >= 1) throw new ValidationError('margin', `must be a number from 0 up to 1, got ${JSON.stringify(margin)}`);
    const runsA = await this.sideRuns(agent, a, 'a', options.evalSetVersion);
    const runsB = await this.sideRuns(agent, b, 'b', options.evalSetVersion);
    // The pair whose older run is the newest: both as recent as they can be together.
    let best: [EvalRunSummary, EvalRunSummary] | null = null;
    for (const x of runsA) {
      for (const y of runsB) {
        if (x.id === y.id || x.evalSetVersion !== y.evalSetVersion || x.scoringHash !== y.scoringHash) continue;
        // Versions compare on the same answering model; two run ids given on purpose may differ in it.
        if (!(isRunId(a) && isRunId(b)) && (x.provider !== y.provider || x.model !== y.model)) continue;
        const older = Math.min(x.createdAt.getTime(), y.createdAt.getTime());
        if (!best || older > Math.min(best[0].createdAt.getTime(), best[1].createdAt.getTime())) best = [x, y];
      }
    }
    if (!best) {
      const where = (runs: EvalRunSummary[]) =>
        [...new Set(runs.map((r) => `eval set v${r.evalSetVersion} (${r.judgeModel ? `judge ${r.judgeProvider}/${r.judgeModel}` : 'no judge'}, scoring ${r.scoringHash.slice(0, 8)})`))].join(', ');
      throw new ConflictError(
        `no pair of completed runs of ${sideName(a)} and ${sideName(b)} on the same eval set version and scoring to compare: ` +
          `${sideName(a)} has runs on ${where(runsA)}; ${sideName(b)} has runs on ${where(runsB)}. ` +
          `Run the other one with the same eval set version, provider, judge and checks (exemplar eval run --agent ${agent.name} ...).`,
        { field: 'b' },
      );
    }
    const [runA, runB] = best;
    const [full, other] = [await this.get(runA.id), await this.get(runB.id)];
    const byExample = new Map(other.results.map((r) => [r.exampleId, r]));
    const pairs: EvalPair[] = [];
    for (const x of full.results) {
      if (x.primaryScore === null) continue;
      // An item A scored and B did not (its judge verdict could not be read) counts as B's worst:
      // dropping it would let a challenger whose answers break the judge lose nothing by it.
      const y = byExample.get(x.exampleId);
      const scoreB = y?.primaryScore ?? 0;
      pairs.push({
        exampleId: x.exampleId, prompt: x.prompt, reference: x.reference, answerA: x.answer, answerB: y?.answer ?? '',
        scoreA: x.primaryScore, scoreB, scoresA: x.scores, scoresB: y?.scores ?? null,
        rationaleA: x.rationale, rationaleB: y?.primaryScore === null || !y ? `not scored: ${y?.error ?? 'no answer'}` : y.rationale,
        difference: scoreB - x.primaryScore,
      });
    }
    if (pairs.length === 0) {
      throw new ConflictError(`runs ${runA.id} and ${runB.id} have no example scored in both, so there is nothing to compare`, { field: 'b' });
    }
    const comparison = comparePaired(pairs.map((p) => p.scoreA), pairs.map((p) => p.scoreB));
    return { agent: agent.name, evalSetVersion: runA.evalSetVersion, a: runA, b: runB, comparison, gate: promotionGate(comparison, margin), pairs };
  }

  /** Each prompt version's latest completed run ('none' as promptVersion null), for the prompt-version page. */
  async latestScores(agentRef: string): Promise<LatestScore[]> {
    const agent = await this.agents.resolve(agentRef);
    const { rows } = await this.db.query<LatestScore & { ci_confidence: number | null; ci_lower: number | null; ci_upper: number | null }>(
      `SELECT DISTINCT ON (prompt_version) prompt_version AS "promptVersion", id::text AS "runId", eval_set_version AS "evalSetVersion",
              mean_score AS "meanScore", ci_confidence, ci_lower, ci_upper, judge_model IS NOT NULL AS judged, scored, finished_at AS "finishedAt"
         FROM eval_runs WHERE agent_id = $1 AND status = 'completed'
        ORDER BY prompt_version DESC NULLS LAST, created_at DESC, id`,
      [agent.id],
    );
    return rows.map(({ ci_confidence, ci_lower, ci_upper, ...r }) => ({
      ...r,
      interval: ci_confidence === null ? null : { confidence: ci_confidence, lower: ci_lower!, upper: ci_upper! },
    }));
  }

  // ---------------------------------------------------------------------------------------------

  private async evaluateItem(
    runId: string,
    plan: Plan,
    item: Item,
    vectors: { reference: Float32Array; contrasts: Float32Array[] },
    answerer: CallTarget,
    judge: CallTarget | null,
    embedder: CachedEmbedder,
    paid: { answer: { in: number; out: number }; judge: { in: number; out: number } },
    answerMissing: boolean,
  ): Promise<string> {
    const answer = await cachedComplete(this.db, answerer, answerRequest(plan, item), answerMissing);
    if (!answer.cached) {
      paid.answer.in += answer.usage.inputTokens;
      paid.answer.out += answer.usage.outputTokens;
    }
    let inputTokens = answer.usage.inputTokens;
    let outputTokens = answer.usage.outputTokens;
    let latencyMs = answer.latencyMs;
    let cached = answer.cached;
    const [vector] = await embedder.embed([answer.text]);
    const scores: EvalScores = {
      ...similarityScore(vector, vectors.reference, vectors.contrasts),
      ...checkScores(answer.text, item.reference, plan.checks, plan.regex),
    };
    let primary: number | null = scores.similarity;
    let verdict: JudgeVerdict | null = null;
    let rationale: string | null = null;
    let error: string | null = null;
    if (judge) {
      primary = null;
      const request = judgeCall(plan, item, answer.text);
      // An unreadable verdict is asked for once more (a different request, so not the cached reply),
      // then recorded as this item's error: one bad reply does not end the run.
      for (const req of [request, { ...request, prompt: request.prompt + JUDGE_RETRY_NOTE }]) {
        const reply = await cachedComplete(this.db, judge, req);
        if (!reply.cached) {
          paid.judge.in += reply.usage.inputTokens;
          paid.judge.out += reply.usage.outputTokens;
        }
        inputTokens += reply.usage.inputTokens;
        outputTokens += reply.usage.outputTokens;
        latencyMs += reply.latencyMs;
        cached &&= reply.cached;
        const parsed = parseVerdict(reply.text, item.exampleId);
        if (parsed.ok) {
          scores.judge = parsed.score;
          primary = parsed.score;
          verdict = parsed.verdict;
          rationale = parsed.rationale;
          error = null;
          break;
        }
        error = `${parsed.error} (asked twice)`;
      }
    }
    await this.db.query(
      `INSERT INTO eval_results (run_id, example_id, answer, scores, primary_score, verdict, rationale, error, input_tokens, output_tokens, latency_ms, cached)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (run_id, example_id) DO NOTHING`,
      [runId, item.exampleId, answer.text, scores, primary, verdict, rationale, error, inputTokens, outputTokens, latencyMs, cached],
    );
    return error ? `error: ${error}` : `score ${primary!.toFixed(2)}${cached ? ' (cached)' : ''}`;
  }

  /** Ends a run: its aggregates are computed from the stored results, the source of truth. */
  private async finish(runId: string, failure: string | null, costUsd: number | null): Promise<void> {
    const { rows } = await this.db.query<{ primary: number | null; similarity: number | null; judge: number | null; error: string | null; cached: boolean; inputTokens: number; outputTokens: number }>(
      `SELECT primary_score AS primary, (scores->>'similarity')::float8 AS similarity, (scores->>'judge')::float8 AS judge, error, cached,
              input_tokens AS "inputTokens", output_tokens AS "outputTokens"
         FROM eval_results WHERE run_id = $1 ORDER BY example_id`,
      [runId],
    );
    const scored = rows.filter((r) => r.primary !== null).map((r) => r.primary!);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
    // The interval of a mean is the paired interval of the scores against zeros: compare.ts's bootstrap-t, unchanged.
    const ci = scored.length ? comparePaired(scored.map(() => 0), scored).interval : null;
    await this.db.query(
      `UPDATE eval_runs SET status = $2, error = $3, scored = $4, failed_items = $5, cached_items = $6, mean_score = $7,
              ci_confidence = $8, ci_lower = $9, ci_upper = $10, mean_similarity = $11, mean_judge = $12,
              input_tokens = $13, output_tokens = $14, cost_usd = $15, finished_at = now()
        WHERE id = $1`,
      [
        runId, failure ? 'failed' : 'completed', failure, scored.length, rows.filter((r) => r.error !== null).length, rows.filter((r) => r.cached).length,
        mean(scored), ci?.confidence ?? null, ci?.lower ?? null, ci?.upper ?? null,
        mean(rows.filter((r) => r.similarity !== null).map((r) => r.similarity!)), mean(rows.filter((r) => r.judge !== null).map((r) => r.judge!)),
        rows.reduce((s, r) => s + r.inputTokens, 0), rows.reduce((s, r) => s + r.outputTokens, 0), costUsd,
      ],
    );
  }

  private async summary(db: Queryable, runId: string): Promise<EvalRunSummary> {
    const { rows } = await db.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM eval_runs r JOIN agents a ON a.id = r.agent_id WHERE r.id = $1`, [runId]);
    if (!rows[0]) throw new NotFoundError('evaluation run', runId);
    return toSummary(rows[0]);
  }

  /** The completed runs one side of a comparison names, newest first. */
  private async sideRuns(agent: AgentRef, side: CompareSide, field: 'a' | 'b', evalSetVersion: number | undefined): Promise<EvalRunSummary[]> {
    if (isRunId(side)) {
      const run = await this.summary(this.db, side as string);
      // Not found, as get_evaluation says: a key scoped to this agent learns nothing of another's runs.
      if (run.agent !== agent.name) throw new NotFoundError('evaluation run', `${side} of agent "${agent.name}"`);
      if (run.status !== 'completed') throw new ValidationError(field, `run ${side} is ${run.status}, not completed; run it again to finish it`);
      if (evalSetVersion !== undefined && run.evalSetVersion !== evalSetVersion) {
        throw new ValidationError(field, `run ${side} used eval set version ${run.evalSetVersion}, not ${evalSetVersion}`);
      }
      return [run];
    }
    let version: number | null;
    if (side === 'none') version = null;
    else if (side === 'production') {
      const production = await this.prompts.get(agent.id, { label: 'production' }).catch((err) => {
        if (err instanceof NotFoundError) return null;
        throw err;
      });
      version = production?.version ?? null;
    } else if (typeof side === 'number' && Number.isInteger(side) && side > 0) version = side;
    else throw new ValidationError(field, `must be a prompt version number, "none", "production" or a run id, got ${JSON.stringify(side)}`);
    const { rows } = await this.db.query<RunRow>(
      `SELECT ${RUN_COLUMNS} FROM eval_runs r JOIN agents a ON a.id = r.agent_id
        WHERE r.agent_id = $1 AND r.status = 'completed' AND r.prompt_version IS NOT DISTINCT FROM $2::int
          AND ($3::int IS NULL OR r.eval_set_version = $3::int)
        ORDER BY r.created_at DESC, r.id`,
      [agent.id, version, evalSetVersion ?? null],
    );
    if (rows.length === 0) {
      const which = version === null ? 'no system prompt (--version none)' : `prompt version ${version}`;
      const flag = version === null ? 'none' : String(version);
      throw new NotFoundError(
        'evaluation run',
        `no completed run of ${which} of agent "${agent.name}"${evalSetVersion !== undefined ? ` on eval set version ${evalSetVersion}` : ''}; ` +
          `run one first: exemplar eval run --agent ${agent.name} --version ${flag}`,
      );
    }
    return rows.map(toSummary);
  }

  /** Options checked field by field, and everything a run needs, read once. */
  private async plan(agentRef: string, options: EvalEstimateOptions): Promise<Plan> {
    if (!options || typeof options !== 'object') throw new ValidationError('options', 'give the evaluation options, at least promptVersion');
    const o = options as EvalRunOptions;
    const agent = await this.agents.resolve(agentRef);
    const notes: string[] = [];
    const { defaultProviderName } = await import('../llm/provider.ts');

    // Provider and model.
    const provider = o.provider ?? defaultProviderName(this.llmConfig);
    if ((provider as string) === 'heuristic') {
      throw new ValidationError(
        'provider',
        o.provider === undefined
          ? 'an evaluation needs a model, and none is configured: set ANTHROPIC_API_KEY, or OPENAI_API_KEY or OPENAI_BASE_URL (any OpenAI-compatible server), or choose a provider'
          : 'an evaluation needs a model to answer; "heuristic" only writes prompts offline: use "anthropic" or "openai"',
      );
    }
    checkProvider(provider, 'provider');
    if (o.model !== undefined && (typeof o.model !== 'string' || o.model.trim() === '')) throw new ValidationError('model', 'must be a model name');
    const answer = await this.target(provider, o.model);

    let judge: Plan['judge'] = null;
    if (o.judge !== false) {
      const j = o.judge ?? {};
      if (typeof j !== 'object' || j === null) throw new ValidationError('judge', 'must be { provider?, model? } or false');
      const jp = j.provider ?? provider;
      if ((jp as string) === 'heuristic') throw new ValidationError('judge.provider', 'the judge needs a model; "heuristic" cannot judge: use "anthropic" or "openai", or judge: false for offline scorers only');
      checkProvider(jp, 'judge.provider');
      if (j.model !== undefined && (typeof j.model !== 'string' || j.model.trim() === '')) throw new ValidationError('judge.model', 'must be a model name');
      judge = await this.target(jp, j.model ?? (jp === provider ? answer.model : undefined));
    }

    const concurrency = o.concurrency ?? DEFAULT_EVAL_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_EVAL_CONCURRENCY) {
      throw new ValidationError('concurrency', `must be a whole number from 1 to ${MAX_EVAL_CONCURRENCY}, got ${JSON.stringify(o.concurrency)}`);
    }
    const maxTokens = o.maxTokens ?? DEFAULT_EVAL_MAX_TOKENS;
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > MAX_EVAL_MAX_TOKENS) {
      throw new ValidationError('maxTokens', `must be a whole number from 1 to ${MAX_EVAL_MAX_TOKENS}, got ${JSON.stringify(o.maxTokens)}`);
    }
    const { checks, regex } = validateChecks(o.checks);

    // The system prompt.
    const prompt = await this.choosePrompt(agent, o.promptVersion, notes);

    // The eval set and its items.
    if (o.evalSetVersion !== undefined && !(Number.isInteger(o.evalSetVersion) && o.evalSetVersion > 0)) {
      throw new ValidationError('evalSetVersion', `must be a positive whole number, got ${JSON.stringify(o.evalSetVersion)}`);
    }
    const { rows: sets } = await this.db.query<{ id: string; version: number }>(
      `SELECT id::text, version FROM eval_sets WHERE agent_id = $1 AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1`,
      [agent.id, o.evalSetVersion ?? null],
    );
    if (!sets[0]) {
      if (o.evalSetVersion !== undefined) throw new NotFoundError('eval set', `version ${o.evalSetVersion} of agent "${agent.name}"`);
      throw new NotFoundError('eval set', `of agent "${agent.name}"; create one first: exemplar eval set create --agent ${agent.name}`);
    }
    const set = sets[0];
    const { rows: members } = await this.db.query<{ id: string; role: 'item' | 'contrast'; prompt: string | null; completion: string | null; changed: boolean }>(
      `SELECT m.example_id::text AS id, m.role, e.prompt, e.completion, (e.id IS NULL OR e.content_hash <> m.content_hash) AS changed
         FROM eval_set_examples m LEFT JOIN training_examples e ON e.id = m.example_id
        WHERE m.eval_set_id = $1 ORDER BY m.example_id`,
      [set.id],
    );
    const contrastsOf = contrastAnswers(members.filter((m): m is typeof m & Answer => m.role === 'contrast' && m.prompt !== null));
    const items: Item[] = members
      .filter((m) => m.role === 'item' && m.prompt !== null)
      .map((m) => ({ exampleId: m.id, prompt: m.prompt!, reference: m.completion!, contrasts: contrastsOf(m.prompt!) }));
    const gone = members.filter((m) => m.role === 'item' && m.prompt === null).length;
    const changed = members.filter((m) => m.changed && m.prompt !== null).length;
    if (gone) notes.push(`${gone} item(s) of eval set version ${set.version} were deleted since it was pinned and are left out`);
    if (changed) notes.push(`${changed} member(s) of eval set version ${set.version} were edited since it was pinned; their current text is used`);
    if (items.length === 0) throw new ValidationError('evalSetVersion', `eval set version ${set.version} of agent "${agent.name}" has no items left to ask`);
    // A version written before the set existed may have been grounded in its examples, and may
    // quote their answers: its score is then inflated. Said, not refused: it is the production
    // prompt being compared with, and a candidate is grounded with the set held out.
    if (prompt.version !== null) {
      const { rows: [grounded] } = await this.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM prompt_versions v, unnest(v.example_ids) AS x(id)
          WHERE v.agent_id = $1 AND v.version = $2 AND x.id = ANY ($3::uuid[])`,
        [agent.id, prompt.version, members.map((m) => m.id)],
      );
      if (grounded.n > 0) notes.push(`prompt version ${prompt.version} was written from ${grounded.n} example(s) of eval set version ${set.version}, so its score may be inflated`);
    }

    // A few of the agent's other rated examples, never from any of its eval sets, as the judge's
    // rubric. Only examples older than the eval set version: the rubric is part of the scoring, so
    // an example added between two runs would otherwise make them incomparable (a reward edit of
    // an older example still can, and the comparison then says the scoring differs).
    const rubricRows = judge
      ? (
          await this.db.query<{ id: string; type: string; question: string; answer: string }>(
            `(SELECT id::text, example_type AS type, prompt AS question, completion AS answer FROM training_examples e
               WHERE agent_id = $1 AND example_type = 'positive' AND created_at <= (SELECT created_at FROM eval_sets WHERE id = $3)
                 AND NOT EXISTS (SELECT 1 FROM eval_set_examples m JOIN eval_sets s ON s.id = m.eval_set_id WHERE s.agent_id = $1 AND m.example_id = e.id)
               ORDER BY reward_score DESC, id LIMIT $2)
             UNION ALL
             (SELECT id::text, example_type, prompt, completion FROM training_examples e
               WHERE agent_id = $1 AND example_type = 'negative' AND created_at <= (SELECT created_at FROM eval_sets WHERE id = $3)
                 AND NOT EXISTS (SELECT 1 FROM eval_set_examples m JOIN eval_sets s ON s.id = m.eval_set_id WHERE s.agent_id = $1 AND m.example_id = e.id)
               ORDER BY reward_score ASC, id LIMIT $2)`,
            [agent.id, RUBRIC_EXAMPLES, set.id],
          )
        ).rows
      : [];
    const cut = (s: string) => (s.length > RUBRIC_CHARS ? `${s.slice(0, RUBRIC_CHARS)}…` : s);
    const rubric = {
      good: rubricRows.filter((r) => r.type === 'positive').map((r) => ({ question: cut(r.question), answer: cut(r.answer) })),
      bad: rubricRows.filter((r) => r.type === 'negative').map((r) => ({ question: cut(r.question), answer: cut(r.answer) })),
    };

    const embeddingModel = this.embedderFor(agent.embeddingModel).provider.modelId;
    const scoring: EvalScoringConfig = {
      judge: judge ? { provider: judge.provider, model: judge.model } : null,
      checks,
      embeddingModel,
      maxTokens,
    };
    // The rubric's text is part of what was scored: runs with different rubrics do not compare.
    const scoringHash = sha256(JSON.stringify([scoring, judge ? rubric : null]));
    return {
      agent, set, prompt, answer, judge, checks, regex, maxTokens, concurrency, scoring, scoringHash, items, rubric, notes,
    };
  }

  private async choosePrompt(agent: AgentRef, choice: PromptChoice, notes: string[]): Promise<Plan['prompt']> {
    const none = { version: null, content: null, hash: sha256('') };
    if (choice === 'none') return none;
    if (choice === 'production') {
      const production = await this.prompts.get(agent.id, { label: 'production' }).catch((err) => {
        if (err instanceof NotFoundError) return null;
        throw err;
      });
      if (!production) {
        notes.push(`agent "${agent.name}" has no production prompt, so "production" is evaluated as no system prompt (prompt version none)`);
        return none;
      }
      return { version: production.version, content: production.content, hash: sha256(production.content) };
    }
    if (!Number.isInteger(choice) || (choice as number) < 1) {
      throw new ValidationError('promptVersion', `must be a prompt version number, "production" or "none", got ${JSON.stringify(choice)}`);
    }
    const v = await this.prompts.get(agent.id, { version: choice as number });
    return { version: v.version, content: v.content, hash: sha256(v.content) };
  }

  /** The provider's resolved model and its endpoint, without loading an SDK client or touching a key. */
  private async target(provider: EvalProviderName, model: string | undefined): Promise<{ provider: EvalProviderName; model: string; endpoint: string }> {
    const { createLlmProvider } = await import('../llm/provider.ts');
    const resolved = createLlmProvider(provider, this.llmConfig, model).model; // builds no client until a call
    const endpoint = redactUrl(provider === 'anthropic' ? (this.llmConfig.anthropicBaseUrl ?? ANTHROPIC_BASE_URL) : (this.llmConfig.openaiBaseUrl ?? OPENAI_DEFAULT_BASE_URL));
    return { provider, model: resolved, endpoint };
  }

  private async estimatePlan(plan: Plan): Promise<EvalEstimate> {
    const tokens = (text: string) => Math.ceil(text.length / 4);
    const answerKeys = plan.items.map((item) => callKey({ name: plan.answer.provider, model: plan.answer.model, endpoint: plan.answer.endpoint }, answerRequest(plan, item)));
    const { rows: cachedAnswers } = await this.db.query<{ key: string; text: string }>(
      `SELECT key, reply_text AS text FROM llm_call_cache WHERE key = ANY ($1::text[])`,
      [answerKeys],
    );
    const answerText = new Map(cachedAnswers.map((r) => [r.key, r.text]));
    // A judge call can be known cached only when its answer is: the request holds the answer.
    const judgeKeys = plan.judge
      ? plan.items.flatMap((item, i) => {
          const text = answerText.get(answerKeys[i]);
          return text === undefined ? [] : [callKey({ name: plan.judge!.provider, model: plan.judge!.model, endpoint: plan.judge!.endpoint }, judgeCall(plan, item, text))];
        })
      : [];
    const judgeCached = await cachedKeys(this.db, judgeKeys);
    let cached = 0;
    const answerTokens = { in: 0, out: 0 };
    const judgeTokens = { in: 0, out: 0 };
    plan.items.forEach((item, i) => {
      const text = answerText.get(answerKeys[i]);
      if (text !== undefined) cached++;
      else {
        const req = answerRequest(plan, item);
        answerTokens.in += tokens(`${req.system ?? ''}${req.prompt}`);
        answerTokens.out += Math.min(plan.maxTokens, tokens(item.reference));
      }
      if (!plan.judge) return;
      const j = judgeCall(plan, item, text ?? item.reference);
      if (text !== undefined && judgeCached.has(callKey({ name: plan.judge.provider, model: plan.judge.model, endpoint: plan.judge.endpoint }, j))) {
        cached++;
        return;
      }
      judgeTokens.in += tokens(`${j.system}${j.prompt}`);
      judgeTokens.out += JUDGE_REPLY_TOKENS_GUESS;
    });
    const answerPrice = priceOf(plan.answer.model, this.llmConfig);
    const judgePrice = plan.judge ? priceOf(plan.judge.model, this.llmConfig) : null;
    const notes = [
      'tokens are estimated at 4 characters a token; each answer as long as its reference (at most maxTokens), each verdict about 80 tokens; a verdict asked again costs more',
    ];
    const unknown = (price: ModelPrice | null, who: { provider: string; model: string }) => {
      if (!price) notes.push(`the price of ${who.provider} model "${who.model}" is unknown, so the cost is not estimated; set EXEMPLAR_LLM_PRICE="input,output" in USD per million tokens`);
    };
    const needAnswer = answerTokens.in + answerTokens.out > 0;
    const needJudge = judgeTokens.in + judgeTokens.out > 0;
    if (needAnswer) unknown(answerPrice, plan.answer);
    if (needJudge && plan.judge && (plan.judge.model !== plan.answer.model || !needAnswer)) unknown(judgePrice, plan.judge);
    const costUsd =
      (needAnswer && !answerPrice) || (needJudge && !judgePrice)
        ? null
        : (answerPrice ? costOf(answerPrice, answerTokens.in, answerTokens.out) : 0) + (judgePrice ? costOf(judgePrice, judgeTokens.in, judgeTokens.out) : 0);
    if (cached) notes.push(`${cached} request(s) are already in the cache and cost nothing`);
    const requests = { answers: plan.items.length, judge: plan.judge ? plan.items.length : 0, total: 0, cached };
    requests.total = requests.answers + requests.judge;
    return {
      agent: plan.agent.name,
      evalSetVersion: plan.set.version,
      promptVersion: plan.prompt.version,
      provider: plan.answer.provider,
      model: plan.answer.model,
      judge: plan.judge ? { provider: plan.judge.provider, model: plan.judge.model } : null,
      items: plan.items.length,
      requests,
      inputTokens: answerTokens.in + judgeTokens.in,
      outputTokens: answerTokens.out + judgeTokens.out,
      costUsd: costUsd === null ? null : Math.round(costUsd * 1e6) / 1e6,
      prices: { answer: answerPrice, judge: judgePrice },
      notes,
    };
  }

  /** An error's text with every configured key taken out, belt and braces over the providers' own scrubbing. */
  private secretFree(message: string): string {
    let text = message;
    for (const secret of [this.llmConfig.anthropicApiKey, this.llmConfig.openaiApiKey]) text = scrub(text, secret);
    return text;
  }
}

function answerRequest(plan: Plan, item: Item): LlmRequest {
  return { ...(plan.prompt.content !== null ? { system: plan.prompt.content } : {}), prompt: item.prompt, maxTokens: plan.maxTokens, temperature: TEMPERATURE };
}

function judgeCall(plan: Plan, item: Item, answer: string): LlmRequest {
  const input: JudgeInput = {
    exampleId: item.exampleId, question: item.prompt, answer, reference: item.reference, contrasts: item.contrasts,
    goodExamples: plan.rubric.good, badExamples: plan.rubric.bad,
  };
  return { ...judgeRequest(input), maxTokens: JUDGE_MAX_TOKENS, temperature: TEMPERATURE };
}

function checkProvider(name: unknown, field: string): asserts name is EvalProviderName {
  if (name !== 'anthropic' && name !== 'openai') throw new ValidationError(field, `must be "anthropic" or "openai", got ${JSON.stringify(name)}`);
}

function toSummary(r: RunRow): EvalRunSummary {
  const { ci_confidence, ci_lower, ci_upper, ...rest } = r;
  return { ...rest, interval: ci_confidence === null ? null : { confidence: ci_confidence, lower: ci_lower!, upper: ci_upper! } };
}

function choiceName(choice: PromptChoice): string {
  return typeof choice === 'number' ? `version ${choice}` : choice === 'none' ? 'no system prompt' : choice;
}

function isRunId(side: CompareSide): boolean {
  return typeof side === 'string' && isUuid(side);
}

type Answer = { prompt: string; completion: string };

/** The contrast answers of an eval set, by the normalised prompt they answer: prompt → completions. */
function contrastAnswers(contrasts: readonly Answer[]): (prompt: string) => string[] {
  const byPrompt = new Map<string, string[]>();
  for (const c of contrasts) {
    const key = normalizePrompt(c.prompt);
    byPrompt.set(key, [...(byPrompt.get(key) ?? []), c.completion]);
  }
  return (prompt) => byPrompt.get(normalizePrompt(prompt)) ?? [];
}

function sideName(side: CompareSide): string {
  return typeof side === 'number' ? `prompt version ${side}` : side === 'none' ? 'no system prompt' : side === 'production' ? 'production' : `run ${side}`;
}

function describeEstimate(e: EvalEstimate): string {
  const cost = e.costUsd === null ? 'cost unknown' : `about $${e.costUsd.toFixed(4)}`;
  return `${e.requests.total} requests (${e.requests.cached} cached) to ${e.provider}/${e.model}${e.judge ? `, judged by ${e.judge.provider}/${e.judge.model}` : ''}; ~${e.inputTokens} input and ~${e.outputTokens} output tokens; ${cost}`;
}


function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
