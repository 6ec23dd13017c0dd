import { z } from 'zod';
import type { Actor } from '../audit/audit.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { ensureEvalSet, promoteIfBetter, type PromotionEvaluation } from '../evaluation/promotion.ts';
import type { Exemplar } from '../exemplar.ts';
import { createLlmProvider, defaultProviderName, type LlmConfig } from '../llm/provider.ts';
import { HEURISTIC_METHOD, heuristicPrompt } from './heuristic.ts';
import { optimizationRequest, parseImprovedPrompt } from './prompt-xml.ts';

export { optimizeInput, type OptimizeOptions } from './options.ts';
import { optimizeInput, type OptimizeOptions } from './options.ts';

export interface OptimizeResult {
  agentName: string;
  /** How the prompt was made: which LLM, or the offline heuristic. */
  method: string;
  examplesUsed: number;
  retrievalStrategy: string;
  optimizedPrompt: string;
  /** The saved version (null on a dry run), the label it got, and the version it improves on. */
  version: number | null;
  label: 'candidate' | 'production' | null;
  basedOnVersion: number | null;
  model: string | null;
  usage: { inputTokens: number; outputTokens: number } | null;
  exampleIds: string[];
  /** How the label was chosen: promote (unevaluated), promote-if-better (evaluated), or neither. */
  promotion: 'promote' | 'promote-if-better' | null;
  /** With promoteIfBetter: the evidence, and whether the gate opened. */
  evaluation: PromotionEvaluation | null;
}

/**
 * The seed's optimize_prompt_with_mcp_rag: read the production prompt, retrieve the agent's best
 * positive and most instructive negative examples for its description and prompt, ask the LLM for
 * a better prompt (in Claude's XML layout), and save it as a new version in one transaction.
 */
export async function optimizePromptWithMcpRag(
  app: Exemplar,
  agentRef: string,
  options: OptimizeOptions,
  actor: Actor,
  llmConfig: LlmConfig,
  onProgress?: (done: number, total: number, message?: string) => void,
): Promise<OptimizeResult> {
  const o = optimizeInput.parse(options);
  if (o.promote && o.promoteIfBetter) throw new ValidationError('promoteIfBetter', 'give promote or promoteIfBetter, not both');
  if (o.dryRun && o.promoteIfBetter) throw new ValidationError('promoteIfBetter', 'a dry run saves nothing, so there is nothing to promote');
  const evalProvider = o.promoteIfBetter ? evaluationProvider(o.provider, llmConfig) : null;
  const agent = await app.agents.get(agentRef);
  // Before retrieval, so the new set's examples are held out of the grounding too.
  const evalSet = o.promoteIfBetter ? await ensureEvalSet(app.evalSets, agent.id, actor) : null;
  onProgress?.(0, 3, 'reading the current prompt and retrieving examples');
  const current = await app.prompts.get(agent.id, { label: 'production' }).catch((err) => {
    if (err instanceof NotFoundError) return null;
    throw err;
  });
  const query = [agent.description, current?.content].filter(Boolean).join('\n\n') || agent.name;
  // Eval-set examples (and near duplicates) never ground an optimization: the candidate is later
  // scored on them, and a prompt that has seen its test answers proves nothing.
  const mix = await app.retrieval.retrieveBalanced({ agentId: agent.id, query, topK: o.topKExamples, positiveRatio: 0.7, minScore: 0.5 }, { excludeHeldOut: true });
  app.usage.noteSearch([...mix.positive, ...mix.negative].map((e) => e.id));
  const examples = { positive: mix.positive, negative: mix.negative };
  const input = { agentName: agent.name, description: agent.description, currentPrompt: current?.content ?? null, ...examples };

  const providerName = o.provider ?? defaultProviderName(llmConfig);
  let optimizedPrompt: string;
  let method: string;
  let model: string | null = null;
  let usage: OptimizeResult['usage'] = null;
  onProgress?.(1, 3, providerName === 'heuristic' ? 'building the prompt offline' : `asking ${providerName}`);
  if (providerName === 'heuristic') {
    optimizedPrompt = heuristicPrompt(input);
    method = HEURISTIC_METHOD;
  } else {
    const llm = createLlmProvider(providerName, llmConfig, o.model);
    const reply = await llm.complete({ ...optimizationRequest(input), maxTokens: 4096, temperature: 0.2 });
    optimizedPrompt = parseImprovedPrompt(reply.text);
    method = `llm: ${providerName} (${reply.model}), grounded in the retrieved examples`;
    model = reply.model;
    usage = reply.usage;
  }

  const exampleIds = [...examples.positive, ...examples.negative].map((e) => e.id);
  let label: OptimizeResult['label'] = o.dryRun ? null : o.promote ? 'production' : 'candidate';
  let version: number | null = null;
  if (!o.dryRun) {
    onProgress?.(2, 3, 'saving the new version');
    const saved = await app.prompts.create(agent.id, {
      content: optimizedPrompt,
      source: 'optimized',
      model: model ?? 'heuristic',
      basedOnVersion: current?.version ?? null,
      exampleIds,
      note: method,
      label: label ?? undefined,
      auditDetails: o.promote ? { promotion: 'promote' } : undefined,
    }, actor);
    version = saved.version;
  }
  let evaluation: PromotionEvaluation | null = null;
  if (evalSet && evalProvider && version !== null) {
    onProgress?.(2, 3, `evaluating version ${version} against ${current ? `production (version ${current.version})` : 'no system prompt'} on eval set version ${evalSet.version}`);
    evaluation = await promoteIfBetter(
      app,
      agent.id,
      version,
      current?.version ?? null,
      { evalSetVersion: evalSet.version, created: evalSet.created, provider: evalProvider, model: o.evalModel ?? (o.provider === evalProvider ? o.model : undefined), margin: o.margin },
      actor,
      onProgress && ((done, total, message) => onProgress(2, 3, `${message ?? ''} (${done}/${total})`)),
    );
    if (evaluation.promoted) label = 'production';
  }
  onProgress?.(3, 3);
  return {
    agentName: agent.name,
    method,
    examplesUsed: exampleIds.length,
    retrievalStrategy: `hybrid (α=${mix.similarityWeight}, β=${mix.scoreWeight}, ${mix.model}): the ${examples.positive.length} best positive examples (reward >= 0.5) and the ${examples.negative.length} most instructive negative ones for the agent's description and current prompt` +
      (mix.heldOut > 0 ? `; the ${mix.heldOut} examples of the agent's eval sets and their near duplicates were held out` : ''),
    optimizedPrompt,
    version,
    label,
    basedOnVersion: current?.version ?? null,
    model,
    usage,
    exampleIds,
    promotion: o.promote ? 'promote' : o.promoteIfBetter ? 'promote-if-better' : null,
    evaluation,
  };
}

/** The model that answers the eval set: the optimizer's, unless that is the offline heuristic, which cannot answer. */
function evaluationProvider(provider: 'anthropic' | 'openai' | 'heuristic' | undefined, config: LlmConfig): 'anthropic' | 'openai' {
  const name = provider && provider !== 'heuristic' ? provider : defaultProviderName(config);
  if (name === 'heuristic') {
    throw new ValidationError('promoteIfBetter', 'needs an LLM to answer the eval set: set ANTHROPIC_API_KEY, or OPENAI_BASE_URL (or OPENAI_API_KEY) for an OpenAI-compatible server');
  }
  return name;
}
