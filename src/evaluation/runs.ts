import type { AgentService } from '../agents/agents.ts';
import type { Actor } from '../audit/audit.ts';
import type { LlmConfig } from '../config/providers.ts';
import type { Database } from '../db/database.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import type { PromptService } from '../prompts/prompts.ts';
import type {
  CompareSide,
  EvalComparison,
  EvalEstimate,
  EvalEstimateOptions,
  EvalProgress,
  EvalRun,
  EvalRunOptions,
  EvalRunOutcome,
  EvalRunSummary,
  LatestScore,
} from './run-types.ts';

export type * from './run-types.ts';

/**
 * Evaluation runs (issue 15, item 2): a prompt version answers every item of an eval set through
 * an LLM provider; each answer is scored offline and by an LLM judge; results are stored per example.
 */
export class EvalRunService {
  constructor(
    private readonly db: Database,
    private readonly agents: Pick<AgentService, 'resolve'>,
    private readonly prompts: Pick<PromptService, 'get'>,
    private readonly embedderFor: (spec: string) => CachedEmbedder,
    private readonly llmConfig: LlmConfig,
  ) {}

  async estimate(agentRef: string, options: EvalEstimateOptions): Promise<EvalEstimate> {
    throw new Error('not implemented yet');
  }

  async run(agentRef: string, options: EvalRunOptions, actor: Actor, progress?: EvalProgress): Promise<EvalRunOutcome> {
    throw new Error('not implemented yet');
  }

  async get(runId: string): Promise<EvalRun> {
    throw new Error('not implemented yet');
  }

  async list(agentRef: string, options: { promptVersion?: number | 'none' } = {}): Promise<EvalRunSummary[]> {
    throw new Error('not implemented yet');
  }

  async compare(agentRef: string, a: CompareSide, b: CompareSide, options: { evalSetVersion?: number; margin?: number } = {}): Promise<EvalComparison> {
    throw new Error('not implemented yet');
  }

  async latestScores(agentRef: string): Promise<LatestScore[]> {
    throw new Error('not implemented yet');
  }
}
