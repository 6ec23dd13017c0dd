import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { exampleJson, exampleType, examplePatch, newExample, rewardChangeJson, rewardScore } from '../examples/example.ts';
import { listExamplesFilter, listExamplesPage, MAX_BULK_IDS } from '../examples/examples.ts';
import { withSource } from '../examples/origin.ts';
import { ValidationError } from '../errors.ts';
import { detectFormat } from '../import-export/formats.ts';
import { exportExamples, importExamples } from '../import-export/import-export.ts';
import { uuid } from '../validation.ts';
import { counted, defineOperation, toJson } from './operation.ts';

const agentRef = agentRefInput;

export const addExample = defineOperation({
  name: 'add_example',
  title: 'Add one example',
  description:
    "Adds one training example to an agent: the prompt it got, the completion it gave, a reward score in [0, 1] and whether it is positive (to imitate) or negative (to avoid). Fails if the agent already has the same prompt and completion.",
  input: newExample.extend({ agent: agentRef }),
  output: exampleJson,
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/examples' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  cli: {
    command: 'examples add',
    flags: { rewardScore: 'reward', exampleType: 'type' },
    summary: (e) => `Added example ${e.id}.`,
    examples: ['exemplar examples add --agent code-helper --prompt "Reverse a list in Python" --completion "xs[::-1]" --reward 0.9 --type positive'],
  },
  run: async ({ agent, ...example }, { app, actor }) => toJson(await app.examples.add(agent, example, actor)),
});

export const addExamples = defineOperation({
  name: 'add_examples',
  title: 'Add examples',
  description:
    'Adds up to 1000 training examples to an agent in one transaction: all are stored, or none if any is invalid. ' +
    'Examples whose prompt and completion the agent already has are skipped and counted as duplicates.',
  input: z.object({ agent: agentRef, examples: z.array(newExample).min(1).max(1000).describe('The examples to add') }),
  output: z.object({ added: z.number().int(), duplicates: z.number().int(), ids: z.array(z.string()) }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/examples/batch' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  run: async ({ agent, examples }, { app, actor, progress }) =>
    app.examples.addMany(agent, examples, actor, { onProgress: progress }),
});

export const getExample = defineOperation({
  name: 'get_example',
  title: 'Show an example',
  description:
    'Shows one example by id, with its source and reward history (every rating: who, when, old and new values).',
  input: z.object({ id: uuid.describe('Example id') }),
  output: exampleJson.extend({ history: z.array(rewardChangeJson).describe('Every rating, oldest first (creation is not one: the first old values are the ones it was created with)') }),
  access: { examples: (i) => [i.id] },
  http: { method: 'GET', path: '/v1/examples/{id}' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'examples show', args: ['id'] },
  run: async ({ id }, { app }) => {
    const [example, history] = await Promise.all([app.examples.get(id), app.examples.history(id)]);
    return toJson({ ...example, history });
  },
});

export const listExamples = defineOperation({
  name: 'list_examples',
  title: 'List examples',
  description:
    "Lists one page of an agent's examples with exact filters (type, reward, text, time, metadata, source, review state) and the " +
    'total that match. Pass nextCursor back as cursor for the next page. For the examples most relevant to a query, use search.',
  input: listExamplesPage.extend({ agent: agentRef }),
  output: z.object({ items: z.array(exampleJson), nextCursor: z.string().nullable(), total: z.number().int().describe('Examples matching the filters (all pages)') }),
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/examples' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'examples list',
    flags: { exampleType: 'type' },
    columns: ['id', 'rewardScore', 'exampleType', 'prompt', 'createdAt'],
    summary: (r) => `${counted(r.total, 'example')} match${r.total === 1 ? 'es' : ''}${r.nextCursor ? ` (more: --cursor ${r.nextCursor})` : ''}.`,
    examples: [
      'exemplar examples list --agent code-helper --type negative --max-score 0.2 --contains docker',
      'exemplar examples list --agent code-helper --metadata \'{"source":"prod"}\' --metadata-keys ticket --sort worst',
      'exemplar examples list --agent code-helper --needs-review --sort oldest',
    ],
  },
  run: async ({ agent, ...opts }, { app }) => toJson(await app.examples.list(agent, opts)),
});

export const updateExample = defineOperation({
  name: 'update_example',
  title: 'Update an example',
  description: "Changes an example's prompt, completion, reward score, type or metadata. Fields left out stay as they are.",
  input: examplePatch.extend({ id: uuid.describe('Example id') }),
  output: exampleJson,
  access: { examples: (i) => [i.id] },
  http: { method: 'PATCH', path: '/v1/examples/{id}' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: { command: 'examples update', args: ['id'], flags: { rewardScore: 'reward', exampleType: 'type' } },
  run: async ({ id, ...patch }, { app, actor }) => toJson(await app.examples.update(id, patch, actor)),
});

export const bulkEditExamples = defineOperation({
  name: 'bulk_edit_examples',
  title: 'Change many examples at once',
  description:
    `Sets the type or the reward of up to ${MAX_BULK_IDS} examples, or deletes them, in one transaction: if any id is unknown, nothing changes.`,
  input: z.object({
    ids: z.array(uuid).min(1).max(MAX_BULK_IDS).describe('Example ids'),
    action: z.enum(['set_type', 'set_reward', 'delete']),
    exampleType: exampleType.optional().describe('For set_type'),
    rewardScore: rewardScore.optional().describe('For set_reward'),
  }),
  output: z.object({
    action: z.enum(['set_type', 'set_reward', 'delete']),
    affected: z.number().int().describe('Examples changed or deleted'),
    ids: z.array(z.string()),
  }),
  access: { examples: (i) => i.ids, level: 'write' },
  http: { method: 'POST', path: '/v1/examples/bulk' },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  cli: {
    command: 'examples bulk',
    args: ['ids'],
    flags: { rewardScore: 'reward', exampleType: 'type' },
    confirm: true,
    summary: (r) => `${r.action === 'delete' ? 'Deleted' : 'Changed'} ${counted(r.affected, 'example')}.`,
    examples: [
      'exemplar examples bulk <id> <id> --action set_type --type negative --yes',
      'exemplar examples bulk <id> <id> --action set_reward --reward 0.33 --yes',
      'exemplar examples bulk <id> <id> --action delete --yes',
    ],
  },
  run: async ({ ids, action, exampleType: type, rewardScore: reward }, { app, actor }) => {
    if (action === 'set_type') {
      if (type === undefined) throw new ValidationError('exampleType', 'is required for set_type: positive or negative');
      if (reward !== undefined) throw new ValidationError('rewardScore', 'is only for set_reward; set_type changes the type alone');
      return app.examples.bulk(ids, { action, exampleType: type }, actor);
    }
    if (action === 'set_reward') {
      if (reward === undefined) throw new ValidationError('rewardScore', 'is required for set_reward: a number between 0 and 1');
      if (type !== undefined) throw new ValidationError('exampleType', 'is only for set_type; set_reward changes the reward alone');
      return app.examples.bulk(ids, { action, rewardScore: reward }, actor);
    }
    if (type !== undefined || reward !== undefined) throw new ValidationError(type !== undefined ? 'exampleType' : 'rewardScore', 'is not used by delete');
    return app.examples.bulk(ids, { action }, actor);
  },
});

export const deleteExamples = defineOperation({
  name: 'delete_examples',
  title: 'Delete examples',
  description: 'Deletes examples by id, all or none: if any id is unknown, nothing is deleted.',
  input: z.object({ ids: z.array(uuid).min(1).describe('Example ids') }),
  output: z.object({ deleted: z.number().int() }),
  access: { examples: (i) => i.ids },
  http: { method: 'POST', path: '/v1/examples/delete' },
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  cli: { command: 'examples delete', args: ['ids'], confirm: true, summary: (r) => `Deleted ${counted(r.deleted, 'example')}.` },
  run: async ({ ids }, { app, actor }) => app.examples.delete(ids, actor),
});

export const importExamplesOp = defineOperation({
  name: 'import_examples',
  title: 'Import examples from a file',
  description:
    'Imports a JSONL or CSV file of examples (fields prompt, completion, reward_score, example_type, metadata), or OpenAI chat ' +
    'fine-tuning lines {"messages": [...]}. The file is validated first, and any bad line (named by number and field) aborts ' +
    'the whole import unless skipInvalid is set. Lines the agent already has are skipped, so importing twice adds nothing.',
  input: z.object({
    agent: agentRef,
    data: z.string().describe('The file contents (the CLI reads the file and checks it is UTF-8)'),
    format: z.enum(['jsonl', 'csv']).optional().describe('File format; guessed from fileName (.csv is CSV, anything else JSONL)'),
    skipInvalid: z.boolean().default(false).describe('Import the valid lines and report the invalid ones'),
    defaultRewardScore: rewardScore.optional().describe('reward_score for lines without one (e.g. OpenAI chat lines)'),
    defaultExampleType: exampleType.optional().describe('example_type for lines without one'),
    fileName: z.string().optional().describe('Name of the file, for the format guess and the audit log'),
  }),
  output: z.object({
    lines: z.number().int(),
    added: z.number().int(),
    duplicates: z.number().int(),
    invalid: z.number().int(),
    problems: z.array(z.object({ line: z.number().int(), field: z.string(), message: z.string() })),
  }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/examples/import' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'examples import',
    args: ['data'],
    files: ['data'],
    flags: { defaultRewardScore: 'reward', defaultExampleType: 'type' },
    summary: (r) =>
      `Imported ${counted(r.added, 'example')} (${counted(r.duplicates, 'duplicate')} skipped${r.invalid ? `, ${counted(r.invalid, 'invalid line')} skipped` : ''}).` +
      r.problems.map((p) => `\n  ${p.message}`).join(''),
    examples: [
      'exemplar examples import data.jsonl --agent code-helper',
      'exemplar examples import chats.jsonl --agent code-helper --reward 1 --type positive',
      'exemplar examples import sheet.csv --agent code-helper --skip-invalid',
    ],
  },
  run: async (input, { app, actor, progress }) =>
    withSource('import', () => importExamples(app.examples, input.agent, input.data, actor, {
      format: input.format ?? detectFormat(input.fileName ?? ''),
      skipInvalid: input.skipInvalid,
      defaults: { rewardScore: input.defaultRewardScore, exampleType: input.defaultExampleType },
      source: input.fileName,
      onProgress: progress,
    }, app.config)),
});

export const exportExamplesOp = defineOperation({
  name: 'export_examples',
  title: 'Export examples as JSONL',
  description: "Exports an agent's examples (optionally filtered) as JSONL, one example per line, in the format import reads.",
  input: listExamplesFilter.omit({ metadataKeys: true, source: true, needsReview: true }).extend({ agent: agentRef }),
  output: z.object({ count: z.number().int(), jsonl: z.string() }),
  access: { agent: (i) => i.agent },
  http: { method: 'GET', path: '/v1/agents/{agent}/examples/export' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'examples export',
    flags: { exampleType: 'type' },
    outputFile: 'jsonl',
    summary: (r) => `Exported ${counted(r.count, 'example')}.`,
    examples: ['exemplar examples export --agent code-helper --min-score 0.8 --out best.jsonl'],
  },
  run: async ({ agent, ...filter }, { app }) => {
    let jsonl = '';
    let count = 0;
    for await (const line of exportExamples(app.examples, agent, filter)) {
      jsonl += line;
      count++;
    }
    return { count, jsonl };
  },
});
