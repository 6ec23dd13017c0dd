import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { optimizeInput } from '../optimization/options.ts';
import { runSummaryJson, comparisonJson } from './evaluation.ts';
import { counted, defineOperation, toJson } from './operation.ts';

export const optimizePrompt = defineOperation({
  name: 'optimize_prompt',
  rateLimit: 'heavy',
  title: "Optimize an agent's prompt",
  description:
    "Improves an agent's system prompt from its own rated examples: reads the production prompt, retrieves the best positive " +
    'and most instructive negative examples by hybrid search, asks an LLM (Claude by default when ANTHROPIC_API_KEY is set; ' +
    'OpenAI-compatible; or an offline heuristic) for a better prompt, and saves it as a new version labelled candidate. ' +
    'promoteIfBetter makes it production only if it beats production on the eval set; promote does so unevaluated; dryRun saves nothing.',
  input: optimizeInput.extend({ agent: agentRefInput }),
  output: z.object({
    agentName: z.string(),
    method: z.string(),
    examplesUsed: z.number().int(),
    retrievalStrategy: z.string(),
    optimizedPrompt: z.string(),
    version: z.number().int().nullable(),
    label: z.enum(['candidate', 'production']).nullable(),
    basedOnVersion: z.number().int().nullable(),
    model: z.string().nullable(),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }).nullable(),
    exampleIds: z.array(z.string()),
    promotion: z.enum(['promote', 'promote-if-better']).nullable().describe('How production was to be chosen'),
    evaluation: z
      .object({
        evalSetVersion: z.number().int(),
        evalSetCreated: z.boolean(),
        baselineVersion: z.number().int().nullable().describe('null: no system prompt'),
        baselineRun: runSummaryJson,
        candidateRun: runSummaryJson,
        comparison: comparisonJson,
        margin: z.number(),
        promoted: z.boolean(),
        reason: z.string(),
      })
      .nullable()
      .describe('promoteIfBetter: the evidence and the decision'),
  }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/prompt/optimize' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'optimize',
    summary: (r) =>
      `${r.version === null ? 'Dry run: not saved.' : `Saved version ${r.version} as ${r.label}.`} Method: ${r.method}.\n` +
      (r.evaluation
        ? `${r.evaluation.promoted ? 'Promoted' : 'Not promoted, kept as candidate'}: against ${r.evaluation.baselineVersion === null ? 'no system prompt' : `production (version ${r.evaluation.baselineVersion})`} ` +
          `on eval set version ${r.evaluation.evalSetVersion}${r.evaluation.evalSetCreated ? ' (created for this)' : ''}, ${r.evaluation.reason}.\n`
        : '') +
      `Grounded in ${counted(r.examplesUsed, 'example')} (${r.retrievalStrategy}).${r.usage ? ` Tokens: ${r.usage.inputTokens} in, ${r.usage.outputTokens} out.` : ''}\n\n${r.optimizedPrompt}`,
    examples: [
      'exemplar optimize --agent demo-coding-assistant --provider heuristic --dry-run',
      'exemplar optimize --agent code-helper --provider anthropic --model claude-sonnet-4-5',
      'exemplar optimize --agent code-helper --promote-if-better --margin 0.02',
      'exemplar optimize --agent code-helper --promote',
    ],
  },
  run: async ({ agent, ...options }, { app, actor, progress }) => {
    const { optimizePromptWithMcpRag } = await import('../optimization/optimize.ts'); // the LLM SDKs load only when it runs
    return toJson(await optimizePromptWithMcpRag(app, agent, options, actor, app.config.llm, progress));
  },
});
