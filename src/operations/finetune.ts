import { z } from 'zod';
import { ForbiddenError } from '../access/access.ts';
import { agentRefInput } from '../agents/agents.ts';
import { datasetSpec } from '../datasets/spec.ts';
import { hyperparametersSchema } from '../finetune/hyperparameters.ts';
import { BACKEND_NAMES, RUN_STATUSES } from '../finetune/types.ts';
import { briefInToolList, counted, defineOperation, toJson } from './operation.ts';

const runJson = z.object({
  id: z.string(),
  agentId: z.string(),
  agentName: z.string(),
  backend: z.enum(BACKEND_NAMES),
  baseModel: z.string(),
  hyperparameters: z.record(z.string(), z.unknown()),
  datasetFormat: z.string(),
  datasetSha256: z.string().nullable(),
  validationSha256: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  statusHistory: z.array(z.object({ status: z.enum(RUN_STATUSES), at: z.string() })),
  externalId: z.string().nullable(),
  resultModel: z.string().nullable(),
  error: z.string().nullable(),
  createdBy: z.string().describe('As stored: cli:<user>, key:<api key id>'),
  createdByName: z.string().describe("Who, for people: the API key's name for key:<id>, otherwise createdBy"),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
});

const runDetailJson = runJson.extend({
  examples: z.object({ train: z.number().int(), validation: z.number().int(), total: z.number().int() }),
  dir: z.string(),
});

const runId = z.string().min(1).describe('Run id (from create_run or list_runs)');

const DATASET_KEYS = Object.keys(datasetSpec.shape);

export const createRun = defineOperation({
  name: 'create_run',
  rateLimit: 'heavy',
  title: 'Start a fine-tuning run',
  description:
    "Builds a fine-tuning dataset from an agent's examples (the options of build_dataset), " +
    'records the run with the exact examples and the dataset sha256s, and starts it on a backend: openai (uploads the JSONL and creates ' +
    'a fine-tuning job; formats openai-sft or openai-dpo), local (writes an Axolotl or TRL LoRA/QLoRA config and runs ' +
    'EXEMPLAR_FINETUNE_COMMAND), or external (registers the run, status pending; the external system reports progress with update_run). ' +
    'A background poller advances openai and local runs.',
  // The dataset builder's fields (spread, not extended: the spec may carry refinements).
  input: z.object({
    // build_dataset's listing explains these fields; here they are listed without it.
    ...Object.fromEntries(Object.entries(datasetSpec.shape).map(([k, v]) => [k, briefInToolList(v, 'description')])) as typeof datasetSpec.shape,
    agent: agentRefInput,
    backend: z.enum(BACKEND_NAMES).describe('openai, local or external'),
    baseModel: z.string().min(1).max(500).describe('The model to fine-tune, e.g. gpt-4.1-mini-2025-04-14 or Qwen/Qwen2.5-0.5B-Instruct'),
    // Listed to models by its description alone (tools/list budget); /openapi.json keeps every field.
    hyperparameters: briefInToolList(hyperparametersSchema.default({}), 'fields').describe('JSON object; other names are refused. openai: n_epochs, batch_size, learning_rate_multiplier (dpo: beta), suffix, seed. local: lora_r, lora_alpha, lora_dropout, learning_rate, num_epochs, micro_batch_size, gradient_accumulation_steps, sequence_len, qlora (trl-preference, trl-kto: beta)'),
    command: z.string().min(1).max(10_000).optional().describe('local, CLI only: the training command for this run ({config} {train} {validation} {dir}); default EXEMPLAR_FINETUNE_COMMAND'),
    externalId: z.string().min(1).max(500).optional().describe("external: the external system's id for its job"),
  }),
  output: runDetailJson,
  access: { agent: (i) => i.agent, level: 'write' },
  http: { method: 'POST', path: '/v1/agents/{agent}/runs' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'finetune create',
    summary: (r) =>
      `Run ${r.id} (${r.backend}, ${r.baseModel}): ${r.status}; ${r.examples.train} train and ${counted(r.examples.validation, 'validation example')}${r.error ? `; error: ${r.error}` : ''}.`,
    examples: [
      'exemplar finetune create --agent code-helper --backend openai --base-model gpt-4.1-mini-2025-04-14 --format openai-sft --hyperparameters \'{"n_epochs":3}\'',
      "exemplar finetune create --agent code-helper --backend local --base-model Qwen/Qwen2.5-0.5B-Instruct --format axolotl-chat-template --command 'axolotl train {config}'",
      'exemplar finetune create --agent code-helper --backend external --base-model my-base --format trl-conversational --external-id job-42',
    ],
  },
  run: async (input, { app, actor, access, progress }) => {
    // A shell command from a network client would be remote code execution: only the CLI (no key) may give one.
    if (input.command !== undefined && access.keyId !== null) throw new ForbiddenError('command may only be given from the CLI; the server uses EXEMPLAR_FINETUNE_COMMAND');
    const record = input as Record<string, unknown>;
    const dataset = Object.fromEntries(DATASET_KEYS.filter((k) => record[k] !== undefined).map((k) => [k, record[k]]));
    const run = await app.runs.create(
      {
        backend: input.backend,
        baseModel: input.baseModel,
        hyperparameters: input.hyperparameters,
        dataset: dataset as Parameters<typeof app.runs.create>[0]['dataset'],
        command: input.command,
        externalId: input.externalId,
      },
      actor,
      progress ? (done, total) => progress(done, total, 'building the dataset') : undefined,
    );
    return toJson(run);
  },
});

export const listRuns = defineOperation({
  name: 'list_runs',
  title: "List an agent's fine-tuning runs",
  description: "Lists an agent's fine-tuning runs, newest first: backend, base model, status, resulting model.",
  input: z.object({
    agent: agentRefInput,
    status: z.enum(RUN_STATUSES).optional().describe('Only runs in this status'),
    limit: z.number().int().min(1).max(500).default(50),
  }),
  output: z.object({ items: z.array(runJson) }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'GET', path: '/v1/agents/{agent}/runs' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'finetune list', columns: ['id', 'backend', 'baseModel', 'datasetFormat', 'status', 'resultModel', 'createdAt'] },
  run: async ({ agent, status, limit }, { app }) => ({ items: toJson(await app.runs.list(agent, { status, limit })) }),
});

export const getRun = defineOperation({
  name: 'get_run',
  title: 'Show a fine-tuning run',
  description:
    'Shows a fine-tuning run: base model, hyperparameters, dataset sha256s, status history, resulting model or error, and how many ' +
    'examples went into each split. An active openai or local run is refreshed from its backend first.',
  input: z.object({ id: runId }),
  output: runDetailJson,
  access: 'filtered',
  http: { method: 'GET', path: '/v1/runs/{id}' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'finetune show',
    args: ['id'],
    summary: (r) =>
      `Run ${r.id} (${r.agentName}, ${r.backend}, ${r.baseModel}, ${r.datasetFormat}): ${r.status}` +
      `${r.resultModel ? ` -> ${r.resultModel}` : ''}${r.error ? `; error: ${r.error}` : ''}; ` +
      `${r.examples.train} train / ${counted(r.examples.validation, 'validation example')}; history: ${r.statusHistory.map((h) => h.status).join(' > ')}`,
  },
  run: async ({ id }, { app, access }) => {
    await app.runs.authorize(id, access, 'read');
    await app.runs.refresh(id).catch(() => {});
    return toJson(await app.runs.get(id));
  },
});

export const getRunLogs = defineOperation({
  name: 'get_run_logs',
  title: "Read a fine-tuning run's log",
  description: "Returns a run's log (backend events, the training command's output, lines an external system sent) from a character offset; pass nextOffset to continue.",
  input: z.object({ id: runId, offset: z.number().int().min(0).default(0).describe('Start at this character of the log') }),
  output: z.object({ id: z.string(), status: z.enum(RUN_STATUSES), logs: z.string(), nextOffset: z.number().int() }),
  access: 'filtered',
  http: { method: 'GET', path: '/v1/runs/{id}/logs' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'finetune logs', args: ['id'], summary: (l) => l.logs.replace(/\n$/, '') || `(no log yet; the run is ${l.status})` },
  run: async ({ id, offset }, { app, access }) => {
    await app.runs.authorize(id, access, 'read');
    await app.runs.refresh(id).catch(() => {});
    return app.runs.logs(id, { offset });
  },
});

export const cancelRun = defineOperation({
  name: 'cancel_run',
  title: 'Cancel a fine-tuning run',
  description: 'Cancels a run that has not finished: cancels the OpenAI job, stops the local training command, or marks an external run cancelled. A finished run cannot be cancelled.',
  input: z.object({ id: runId }),
  output: runDetailJson,
  access: 'filtered',
  http: { method: 'POST', path: '/v1/runs/{id}/cancel' },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false },
  cli: { command: 'finetune cancel', args: ['id'], summary: (r) => `Run ${r.id} is ${r.status}.` },
  run: async ({ id }, { app, access, actor }) => {
    await app.runs.authorize(id, access, 'write');
    return toJson(await app.runs.cancel(id, actor));
  },
});

export const updateRun = defineOperation({
  name: 'update_run',
  title: 'Report progress of an external fine-tuning run',
  description:
    'For runs with backend external: the training system reports a new status (forward only: pending, validating, queued, running, ' +
    'then succeeded, failed or cancelled, which are final), the resulting model, an error, and log lines to append.',
  input: z.object({
    id: runId,
    status: z.enum(RUN_STATUSES).optional().describe('The new status'),
    resultModel: z.string().min(1).max(1000).optional().describe('The model the run produced'),
    error: z.string().min(1).max(10_000).optional().describe('Why the run failed'),
    logLines: z.array(z.string()).optional().describe('Lines to append to the log (at most EXEMPLAR_FINETUNE_LOG_LINES_PER_UPDATE lines and EXEMPLAR_FINETUNE_LOG_BYTES_PER_UPDATE bytes per call)'),
    externalId: z.string().min(1).max(500).optional().describe("The external system's id for its job"),
  }),
  output: runDetailJson,
  access: 'filtered',
  http: { method: 'PATCH', path: '/v1/runs/{id}' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'finetune update',
    args: ['id'],
    summary: (r) => `Run ${r.id} is ${r.status}${r.resultModel ? ` -> ${r.resultModel}` : ''}.`,
    examples: ['exemplar finetune update RUN_ID --status running --log-lines "epoch 1 loss 0.9"', 'exemplar finetune update RUN_ID --status succeeded --result-model my-org/model-v2'],
  },
  run: async ({ id, ...update }, { app, access, actor }) => {
    await app.runs.authorize(id, access, 'write');
    return toJson(await app.runs.update(id, update, actor));
  },
});

export const finetuneOperations = [createRun, listRuns, getRun, getRunLogs, cancelRun, updateRun];
