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
  createdBy: z.string().describe('As stored: cli:<user>, key:<api key id>, system'),
  createdByName: z.string().describe("Who, for people: the API key's name for key:<id>, otherwise createdBy"),
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
  http: { method: 'GET', path: '/v1/agents/{agent}/prompt' },
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
  http: { method: 'GET', path: '/v1/agents/{agent}/prompt/versions' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'prompt history', columns: ['version', 'labels', 'source', 'model', 'createdAt', 'content'] },
  run: async ({ agent }, { app }) => ({ items: toJson(await app.prompts.history(agent)) }),
});

export const setPrompt = defineOperation({
  name: 'set_prompt',
  title: 'Save a new prompt version',
  description:
    "Saves a new version of an agent's system prompt (versions are immutable and numbered). Optionally points a label at it " +
    '(candidate, or production to make it live). Pass expectedVersion, the newest version you read, so a concurrent change ' +
    'makes this fail with a conflict instead of being silently overwritten.',
  input: z.object({
    agent: agentRefInput,
    content: z.string().min(1).describe('The full system prompt'),
    label: z.string().min(1).optional().describe('Label to point at the new version, e.g. candidate or production'),
    expectedVersion: z.number().int().min(0).optional().describe('The newest version you based this on (0: none yet); a newer one makes this a conflict'),
    note: z.string().max(2000).optional().describe('Why this version exists'),
  }),
  output: promptVersionJson,
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/prompt/versions' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'prompt set',
    args: ['content'],
    files: ['content'],
    summary: (v) => `Saved version ${v.version}${v.labels.length ? ` (${v.labels.join(', ')})` : ''}.`,
    examples: ['exemplar prompt set prompt.txt --agent code-helper --label production', 'exemplar prompt set new.txt --agent code-helper --expected-version 3'],
  },
  run: async ({ agent, content, label, expectedVersion, note }, { app, actor }) =>
    toJson(await app.prompts.create(agent, { content, source: 'manual', label, note, expectedLatest: expectedVersion === undefined ? undefined : expectedVersion === 0 ? null : expectedVersion }, actor)),
});

export const promotePrompt = defineOperation({
  name: 'promote_prompt',
  title: 'Promote a prompt version',
  description:
    'Moves a label to the version another label points at: by default production to the candidate. Pass expectedVersion ' +
    "(the production version you saw) to fail with a conflict if someone promoted meanwhile.",
  input: z.object({
    agent: agentRefInput,
    from: z.string().min(1).default('candidate').describe('Label whose version is promoted'),
    to: z.string().min(1).default('production').describe('Label that moves'),
    expectedVersion: z.number().int().min(0).optional().describe('The version `to` pointed at when you read it (0: unset)'),
  }),
  output: promptVersionJson,
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/prompt/promote' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: { command: 'prompt promote', summary: (v) => `Version ${v.version} is now ${v.labels.join(', ')}.` },
  run: async ({ agent, from, to, expectedVersion }, { app, actor }) =>
    toJson(await app.prompts.promote(agent, actor, { from, to, expected: expectedVersion === undefined ? undefined : expectedVersion === 0 ? null : expectedVersion })),
});

export const rollbackPrompt = defineOperation({
  name: 'rollback_prompt',
  title: 'Roll back the production prompt',
  description:
    'Makes an earlier version live again by saving its content as a new version (source rollback) labelled production; ' +
    'history is never rewritten. Default: the version before the current production one.',
  input: z.object({ agent: agentRefInput, to: z.number().int().min(1).optional().describe('Version whose content goes live again') }),
  output: promptVersionJson,
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/prompt/rollback' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: { command: 'prompt rollback', summary: (v) => `Production is now version ${v.version} (the content of version ${v.basedOnVersion}).` },
  run: async ({ agent, to }, { app, actor }) => toJson(await app.prompts.rollback(agent, actor, { to })),
});

export const diffPrompts = defineOperation({
  name: 'diff_prompts',
  title: 'Diff two prompt versions',
  description: 'Compares two versions of an agent\'s prompt: a unified diff, and word-level changes for side-by-side views.',
  input: z.object({
    agent: agentRefInput,
    from: z.number().int().min(1).describe('Older version'),
    to: z.number().int().min(1).describe('Newer version'),
  }),
  output: z.object({
    from: z.number().int(),
    to: z.number().int(),
    unified: z.string(),
    words: z.array(z.object({ value: z.string(), added: z.boolean().optional(), removed: z.boolean().optional() })),
  }),
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/prompt/diff' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'prompt diff', summary: (d) => d.unified, examples: ['exemplar prompt diff --agent code-helper --from 1 --to 2'] },
  run: async ({ agent, from, to }, { app }) => app.prompts.diff(agent, from, to),
});
