import { z } from 'zod';

// What an optimization takes. Apart from the optimizer, so the doors can describe it without
// loading the LLM SDKs.

export const optimizeInput = z.object({
  topKExamples: z.number().int().min(1).max(50).default(8).describe('How many examples to ground the new prompt in (about 70% positive)'),
  provider: z.enum(['anthropic', 'openai', 'heuristic']).optional().describe('LLM to ask; default: anthropic if ANTHROPIC_API_KEY is set, else openai if configured, else heuristic'),
  model: z.string().min(1).optional().describe('Model id, e.g. claude-sonnet-4-5 or gpt-4o-mini (default: the provider\'s)'),
  dryRun: z.boolean().default(false).describe('Return the new prompt without saving it'),
  promote: z.boolean().default(false).describe('Save it as production, unevaluated'),
  promoteIfBetter: z.boolean().default(false).describe('Promote only if it beats production on the eval set'),
  margin: z.number().min(0).max(1).default(0).describe('promoteIfBetter: least gain'),
  evalModel: z.string().min(1).optional().describe('promoteIfBetter: answering and judging model'),
});
export type OptimizeOptions = z.input<typeof optimizeInput>;
