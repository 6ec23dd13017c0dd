import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { defineOperation, toJson } from './operation.ts';

const promptVersionJson = z.object({
  version: z.number().int(),
  content: z.string(),
  source: z.enum(['manual', 'optimized', 'rollback']),
  model: z.string().nullable(),
  basedOnVersion: z.number().int().nullable(),
  exampleIds: z.array(z.string()),
  note: z.string(),
  createdBy: z.string(),
  createdAt: z.string(),
  labels: z.array(z.string()),
});

export const getPrompt = defineOperation({
  name: 'get_prompt',
  title: "Get an agent's prompt",
  description:
    "Returns an agent's system prompt: the version labelled production by default, or another label (candidate) or a version number. " +
    'Shows how the version was made (manual, optimized, rollback), by which model, and from which example ids.',
  input: z.object({
    agent: agentRefInput,
    label: z.string().min(1).optional().describe('A label such as production or candidate (default: production)'),
    version: z.number().int().min(1).optional().describe('A version number instead of a label'),
  }),
  output: promptVersionJson,
  access: { agent: (i) => i.agent },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'prompt show', examples: ['exemplar prompt show --agent code-helper', 'exemplar prompt show --agent code-helper --version 3'] },
  run: async ({ agent, label, version }, { app }) => toJson(await app.prompts.get(agent, { label, version })),
});

export const listPromptVersions = defineOperation({
  name: 'list_prompt_versions',
  title: 'List prompt versions',
  description: "Lists every version of an agent's system prompt, newest first, with the labels that point at each.",
  input: z.object({ agent: agentRefInput }),
  output: z.object({ items: z.array(promptVersionJson) }),
  access: { agent: (i) => i.agent },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'prompt history', columns: ['version', 'labels', 'source', 'model', 'createdAt', 'content'] },
  run: async ({ agent }, { app }) => ({ items: toJson(await app.prompts.history(agent)) }),
});
