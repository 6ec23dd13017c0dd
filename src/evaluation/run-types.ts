import type { GateDecision, PairedComparison } from './compare.ts';

/**
 * The public shapes of evaluation runs (issue 15, item 2): what EvalRunService takes and returns.
 * Kept apart from the engine so the doors can import them without loading the LLM SDKs.
 */

/** Which system prompt is evaluated: a version number, the production label, or no system prompt at all. */
export type PromptChoice = number | 'production' | 'none';

export type EvalProviderName = 'anthropic' | 'openai';

/** Offline checks applied to every answer, each scored 1 (passes) or 0. */
export interface EvalChecks {
  /** The answer contains this text (case-sensitive). */
  contains?: string;
  /** The answer equals the reference, after trimming. */
  exact?: boolean;
  /** The answer matches this regular expression (RE2 syntax, linear time; at most 500 characters; matched against the first 20,000 characters). */
  regex?: string;
  /** The answer is valid JSON (after trimming, a ```json fence allowed). */
  json?: boolean;
}

export interface EvalJudgeOptions {
  /** Default: the answering provider. */
  provider?: EvalProviderName;
  /** Default: the answering model when the provider is the same, else the provider's default. */
  model?: string;
}

export interface EvalRunOptions {
  promptVersion: PromptChoice;
  /** Default: the latest version of the agent's eval set. */
  evalSetVersion?: number;
  /** Default: defaultProviderName(config); the offline heuristic cannot answer, so it is refused. */
  provider?: EvalProviderName;
  model?: string;
  /** Default: judge with the answering provider and model; false: offline scorers only. */
  judge?: EvalJudgeOptions | false;
  checks?: EvalChecks;
  /** Model calls in flight at once: default 4, at most 16. */
  concurrency?: number;
  /** Most tokens per answer (default 1024). */
  maxTokens?: number;
  /** Estimate only: no model call, nothing stored. */
  dryRun?: boolean;
}

export type EvalEstimateOptions = Omit<EvalRunOptions, 'dryRun' | 'concurrency'>;

/** A model's list price in USD per million tokens. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
  /** Where it came from: Exemplar's table of list prices, or EXEMPLAR_LLM_PRICE. */
  source: 'list price' | 'EXEMPLAR_LLM_PRICE';
}

export interface EvalEstimate {
  agent: string;
  evalSetVersion: number;
  /** null: no system prompt. */
  promptVersion: number | null;
  provider: EvalProviderName;
  model: string;
  judge: { provider: EvalProviderName; model: string } | null;
  /** Eval items (each answered once, and judged once when a judge is on). */
  items: number;
  requests: { answers: number; judge: number; total: number; /** Of those, already in the cache: free. */ cached: number };
  /** Tokens of the requests not in the cache, estimated at 4 characters a token; outputs at the reference's length. */
  inputTokens: number;
  outputTokens: number;
  /** null when a model's price is unknown (see notes). */
  costUsd: number | null;
  prices: { answer: ModelPrice | null; judge: ModelPrice | null };
  /** What the estimate assumed or could not know, one sentence each. */
  notes: string[];
}

export type EvalRunStatus = 'running' | 'completed' | 'failed';

export interface EvalRunSummary {
  id: string;
  agent: string;
  evalSetId: string;
  evalSetVersion: number;
  /** null: evaluated with no system prompt. */
  promptVersion: number | null;
  /** sha256 of the system prompt evaluated ('' for none). */
  promptContentHash: string;
  provider: EvalProviderName;
  model: string;
  judgeProvider: EvalProviderName | null;
  judgeModel: string | null;
  /** The scorers and checks, and their hash: only runs with the same hash are compared. */
  scoring: EvalScoringConfig;
  scoringHash: string;
  status: EvalRunStatus;
  /** Why a run failed (never a secret). */
  error: string | null;
  /** Eval items in the run's set. */
  items: number;
  /** Items with a primary score. */
  scored: number;
  /** Items recorded with an error (e.g. a judge verdict that could not be read twice). */
  failedItems: number;
  /** Items whose model calls all came from the cache. */
  cachedItems: number;
  /** Mean primary score (judge's when it ran, else similarity), and its bootstrap interval. */
  meanScore: number | null;
  interval: { confidence: number; lower: number; upper: number } | null;
  meanSimilarity: number | null;
  meanJudge: number | null;
  inputTokens: number;
  outputTokens: number;
  estimatedCostUsd: number | null;
  /** What was paid: cached calls cost nothing; null when a price is unknown. */
  costUsd: number | null;
  createdBy: string;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface EvalScoringConfig {
  judge: { provider: EvalProviderName; model: string } | null;
  checks: EvalChecks;
  /** The agent's embedding model used for the similarity scorer. */
  embeddingModel: string;
  maxTokens: number;
}

/** Each scorer's score for one answer, 0..1. */
export interface EvalScores {
  /** (1 + cos(answer, reference) − max(0, max cos(answer, contrast))) / 2, clamped to 0..1. */
  similarity: number;
  /** cos(answer, reference) and the largest cos(answer, contrast) (null without contrasts), for people. */
  referenceCosine: number;
  contrastCosine: number | null;
  exact?: number;
  contains?: number;
  regex?: number;
  json?: number;
  /** 1 answer better, 0.5 tie, 0 reference better. */
  judge?: number;
}

export type JudgeVerdict = 'answer' | 'tie' | 'reference';

export interface EvalResult {
  exampleId: string;
  /** The question asked, its reference answer and its contrast answers (null when the example is gone since). */
  prompt: string | null;
  reference: string | null;
  contrasts: string[];
  answer: string;
  scores: EvalScores | null;
  primaryScore: number | null;
  verdict: JudgeVerdict | null;
  rationale: string | null;
  /** Why the item has no primary score. */
  error: string | null;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  /** Every model call of the item came from the cache. */
  cached: boolean;
}

export interface EvalRun extends EvalRunSummary {
  results: EvalResult[];
}

export interface EvalRunOutcome {
  estimate: EvalEstimate;
  /** null on a dry run. */
  run: EvalRun | null;
  /** Things worth saying: "no production prompt, so no system prompt was evaluated", a changed eval set. */
  notes: string[];
}

/** A version evaluated against a baseline with the same options, and the comparison of the two. */
export interface EvalPairOutcome {
  /** The version's run (run first). */
  run: EvalRunOutcome;
  /** The baseline's run; null when the version's run did not complete, so no baseline was paid for. */
  baseline: EvalRunOutcome | null;
  /** B = the version against A = the baseline; null on a dry run or when a run did not complete. */
  comparison: EvalComparison | null;
  /** Both runs' notes, and why there is no comparison when there is none. */
  notes: string[];
}

/** One side of a comparison: a prompt version, 'none', or a run id. */
export type CompareSide = number | 'none' | string;

export interface EvalPair {
  exampleId: string;
  prompt: string | null;
  reference: string | null;
  answerA: string;
  answerB: string;
  scoreA: number;
  scoreB: number;
  scoresA: EvalScores | null;
  scoresB: EvalScores | null;
  rationaleA: string | null;
  rationaleB: string | null;
  /** B − A. */
  difference: number;
}

export interface EvalComparison {
  agent: string;
  evalSetVersion: number;
  a: EvalRunSummary;
  b: EvalRunSummary;
  /** wins/ties/losses count B against A. */
  comparison: PairedComparison;
  gate: GateDecision;
  pairs: EvalPair[];
}

export interface LatestScore {
  /** null: no system prompt. */
  promptVersion: number | null;
  runId: string;
  evalSetVersion: number;
  meanScore: number | null;
  interval: { confidence: number; lower: number; upper: number } | null;
  judged: boolean;
  scored: number;
  finishedAt: Date | null;
}

export type EvalProgress = (done: number, total: number, message?: string) => void;
