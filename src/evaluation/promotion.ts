import type { Actor } from '../audit/audit.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { PromptService } from '../prompts/prompts.ts';
import type { EvalSetService } from './eval-sets.ts';
import type { EvalComparison, EvalProgress, EvalProviderName, EvalRunSummary } from './run-types.ts';
import type { EvalRunService } from './runs.ts';

/** What `optimize --promote-if-better` found: the two runs, their paired comparison and the gate's decision. */
export interface PromotionEvaluation {
  evalSetVersion: number;
  /** The eval set was created for this optimization (the agent had none), before its examples were retrieved. */
  evalSetCreated: boolean;
  /** The production version the candidate was compared with; null: no system prompt. */
  baselineVersion: number | null;
  baselineRun: EvalRunSummary;
  candidateRun: EvalRunSummary;
  comparison: EvalComparison['comparison'];
  margin: number;
  promoted: boolean;
  /** The gate's sentence, with the numbers. */
  reason: string;
}

/**
 * The eval set an optimization will be judged on, created (with the defaults) when the agent has
 * none. It must exist before the optimizer retrieves its grounding examples, so that the held-out
 * guard keeps them out of the prompt that is later scored on them.
 */
export async function ensureEvalSet(evalSets: Pick<EvalSetService, 'get' | 'create'>, agentRef: string, actor: Actor): Promise<{ version: number; created: boolean }> {
  try {
    return { version: (await evalSets.get(agentRef)).version, created: false };
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    try {
      const set = await evalSets.create(agentRef, { actor });
      return { version: set.version, created: true };
    } catch (cause) {
      if (cause instanceof ValidationError) throw new ValidationError('promoteIfBetter', `needs an eval set to score the candidate on, and none could be made: ${cause.message}`);
      throw cause;
    }
  }
}

/**
 * Evaluate-before-promote (issue 15, item 3): scores the candidate and production (or no system
 * prompt, when there is none, so a first version must earn its place too) on the same eval set
 * version, with the same model, judge and scoring, and moves production to the candidate only when
 * the lower bound of the paired difference is above `margin`. The label moves only if production is
 * still the version that was evaluated; the audit row says it was promote-if-better, with the numbers.
 */
export async function promoteIfBetter(
  deps: { evalRuns: Pick<EvalRunService, 'runAgainst'>; prompts: Pick<PromptService, 'setLabel'> },
  agentRef: string,
  candidateVersion: number,
  baselineVersion: number | null,
  options: { evalSetVersion: number; created: boolean; provider: EvalProviderName; model?: string; margin: number },
  actor: Actor,
  progress?: EvalProgress,
): Promise<PromotionEvaluation> {
  const pair = await deps.evalRuns.runAgainst(
    agentRef,
    { evalSetVersion: options.evalSetVersion, provider: options.provider, model: options.model, promptVersion: candidateVersion, against: baselineVersion ?? 'none', margin: options.margin },
    actor,
    progress,
  );
  const compared = pair.comparison;
  if (!compared) {
    const [name, outcome] = pair.run.run?.status !== 'completed' ? ['candidate', pair.run] : ['production', pair.baseline];
    throw new ValidationError('promoteIfBetter', `the ${name}'s evaluation did not complete (${outcome?.run?.error ?? 'no run'}); version ${candidateVersion} stays a candidate. Run it again: answers already paid for come from the cache`);
  }
  const result: PromotionEvaluation = {
    evalSetVersion: options.evalSetVersion,
    evalSetCreated: options.created,
    baselineVersion,
    baselineRun: compared.a,
    candidateRun: compared.b,
    comparison: compared.comparison,
    margin: options.margin,
    promoted: compared.gate.promote,
    reason: compared.gate.reason,
  };
  if (compared.gate.promote) {
    const { n, wins, ties, losses, meanDifference, interval, signTestP } = compared.comparison;
    await deps.prompts.setLabel(agentRef, 'production', candidateVersion, actor, baselineVersion, 'candidate', {
      promotion: 'promote-if-better',
      evalSetVersion: options.evalSetVersion,
      runs: { baseline: compared.a.id, candidate: compared.b.id },
      margin: options.margin,
      n, wins, ties, losses, meanDifference, interval, signTestP,
    });
  }
  return result;
}
