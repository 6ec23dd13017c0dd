import { z } from 'zod';
import { canRead } from '../access/access.ts';
import { agentJson, agentRefInput, createAgentInput, updateAgentInput } from '../agents/agents.ts';
import type { Access } from '../access/access.ts';
import type { Exemplar } from '../exemplar.ts';
import { counted, defineOperation, toJson } from './operation.ts';

const agentRef = agentRefInput;

export const listAgents = defineOperation({
  name: 'list_agents',
  title: 'List agents',
  description: 'Lists every agent with its description, hybrid weights and example count. Start here to learn which agents exist.',
  input: z.object({}),
  output: z.object({ items: z.array(agentJson) }),
  access: 'filtered',
  http: { method: 'GET', path: '/v1/agents' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'agents list', columns: ['name', 'exampleCount', 'similarityWeight', 'scoreWeight', 'description'] },
  run: async (_input, { app, access }) => ({ items: toJson((await app.agents.list()).filter((a) => canRead(access, a.id))) }),
});

export const getAgent = defineOperation({
  name: 'get_agent',
  title: 'Show an agent',
  description: 'Shows one agent, found by name or id: description, hybrid weights (similarity α, reward β), embedding model and example count.',
  input: z.object({ agent: agentRef }),
  output: agentJson,
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'agents show', args: ['agent'] },
  run: async ({ agent }, { app }) => toJson(await app.agents.get(agent)),
});

export const createAgent = defineOperation({
  name: 'create_agent',
  title: 'Create an agent',
  description:
    'Creates an agent: a named owner of training examples, prompt versions and fine-tuning runs. ' +
    'Names are unique. The weights set how search ranks examples: hybrid = similarityWeight * similarity + scoreWeight * reward.',
  input: createAgentInput,
  output: agentJson,
  access: 'admin',
  http: { method: 'POST', path: '/v1/agents' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'agents create',
    args: ['name'],
    flags: { similarityWeight: 'alpha', scoreWeight: 'beta', embeddingModel: 'model' },
    summary: (a) => `Created agent "${a.name}" (${a.id}).`,
    examples: ['exemplar agents create code-helper --description "Answers coding questions" --alpha 0.7 --beta 0.3'],
  },
  run: async (input, { app, actor, access }) => {
    await checkModelForCaller(input.embeddingModel, app, access);
    return toJson(await app.agents.create(input, actor));
  },
});

export const updateAgent = defineOperation({
  name: 'update_agent',
  title: 'Update an agent',
  description:
    "Changes an agent's description, hybrid weights or embedding model. Fields left out stay as they are. A new embedding " +
    'model makes the index rebuild with it; vectors of two models are never mixed.',
  input: updateAgentInput.extend({ agent: agentRef }),
  output: agentJson,
  access: { agent: (i) => i.agent },
  http: { method: 'PATCH', path: '/v1/agents/{agent}' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'agents update',
    args: ['agent'],
    flags: { similarityWeight: 'alpha', scoreWeight: 'beta', embeddingModel: 'model' },
    summary: (a) => `Updated agent "${a.name}".`,
  },
  run: async ({ agent, ...changes }, { app, actor, access }) => {
    await checkModelForCaller(changes.embeddingModel, app, access);
    return toJson(await app.agents.update(agent, changes, actor));
  },
});

export const deleteAgent = defineOperation({
  name: 'delete_agent',
  title: 'Delete an agent',
  description: 'Deletes an agent together with all of its examples, prompt versions and fine-tuning runs. This cannot be undone.',
  input: z.object({ agent: agentRef }),
  output: z.object({ id: z.string(), name: z.string(), deletedExamples: z.number().int() }),
  access: 'admin',
  http: { method: 'DELETE', path: '/v1/agents/{agent}' },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  cli: {
    command: 'agents delete',
    args: ['agent'],
    confirm: true,
    summary: (r) => `Deleted agent "${r.name}" and its ${counted(r.deletedExamples, 'example')}.`,
  },
  run: async ({ agent }, { app, actor }) => app.agents.delete(agent, actor),
});

/** A caller with a key is remote: it may not point a model at the server's files (see checkNetworkEmbeddingModel). */
async function checkModelForCaller(spec: string | undefined, app: Exemplar, access: Access): Promise<void> {
  if (spec === undefined || access.keyId === null) return;
  const { checkNetworkEmbeddingModel } = await import('../embeddings/providers.ts'); // loaded by now; not at CLI start
  checkNetworkEmbeddingModel(spec, app.config.embedding);
}
