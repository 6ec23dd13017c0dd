import { z } from 'zod';
import { DATASET_FORMATS } from '../datasets/formats.ts';
import { datasetSpec } from '../datasets/spec.ts';
import { validateDataset } from '../datasets/validate.ts';
import { counted, defineOperation } from './operation.ts';

const count = z.number().int();
const split = z.object({ examples: count, tokens: count });

const reportJson = z.object({
  format: z.enum(DATASET_FORMATS),
  selected: count.describe('Examples the filters or query selected, before removals'),
  removed: z.object({
    heldOut: count.describe("In the agent's eval sets (any version), or a near duplicate of one: never trained on"),
    exactDuplicates: count,
    nearDuplicates: count,
    unpaired: count.optional(),
    invalid: count.optional(),
    reasons: z.array(z.object({ id: z.string(), reason: z.string() })).describe('Why each example was removed (the first 100)'),
  }),
  redactions: z.object({ emails: count, phones: count, apiKeys: count }),
  train: split,
  validation: split,
  tokenizer: z.string(),
  nearDuplicateMethod: z.string().nullable(),
  notes: z.array(z.string()),
  timings: z.record(z.string(), z.number()).describe('Milliseconds per phase'),
});

export const buildDatasetOp = defineOperation({
  name: 'build_dataset',
  rateLimit: 'heavy',
  title: 'Build a fine-tuning dataset',
  description:
    "Builds a fine-tuning dataset (JSONL for OpenAI, Hugging Face TRL or Axolotl) from an agent's examples, selected with " +
    "list and search's filters: removes exact and near duplicates, pairs positives with negatives of the same prompt for DPO " +
    'and preference formats, splits train/validation by a seeded hash of the prompt, counts tokens and can redact emails, ' +
    'phones and API keys. Returns both files, their sha256 and a report of what was kept and removed.',
  input: datasetSpec,
  output: z.object({
    format: z.enum(DATASET_FORMATS),
    train: z.string().describe('Training file, JSONL'),
    validation: z.string().describe('Validation file, JSONL (empty when validationFraction is 0)'),
    sha256: z.object({ train: z.string(), validation: z.string().nullable() }),
    records: count.describe('Examples in the dataset (a pair counts its two examples)'),
    report: reportJson,
  }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'POST', path: '/v1/agents/{agent}/datasets' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'dataset build',
    flags: { exampleType: 'type' },
    outputFile: 'train',
    outputFiles: { validation: 'validation-out' },
    summary: (r) => {
      const rm = r.report.removed;
      return (
        `Built ${r.format}: ${r.report.train.examples} train (${counted(r.report.train.tokens, 'token')}), ` +
        `${r.report.validation.examples} validation (${counted(r.report.validation.tokens, 'token')}) from ${r.report.selected} selected; ` +
        `removed ${rm.heldOut ? `${rm.heldOut} held out (eval sets), ` : ''}${rm.exactDuplicates} exact and ${counted(rm.nearDuplicates, 'near duplicate')}` +
        `${rm.unpaired ? `, ${rm.unpaired} unpaired` : ''}${rm.invalid ? `, ${rm.invalid} invalid` : ''}. train sha256 ${r.sha256.train}.`
      );
    },
    examples: [
      'exemplar dataset build --agent code-helper --format openai-sft --out train.jsonl --validation-out val.jsonl',
      'exemplar dataset build --agent code-helper --format openai-dpo --redact --out dpo.jsonl',
      'exemplar dataset build --agent code-helper --format trl-kto --min-score 0.2 --near-duplicate-threshold 0.9 --out kto.jsonl',
    ],
  },
  run: async (input, { app, progress }) => {
    const { buildDataset } = await import('../datasets/builder.ts'); // the tokenizer and embedders load only when a build runs
    const built = await buildDataset(app, input, progress);
    await app.usage.noteDataset(built.records.map((r) => r.id)); // for agent_stats' "never used"
    return {
      format: built.format,
      train: built.train,
      validation: built.validation,
      sha256: built.sha256,
      records: built.records.length,
      report: built.report,
    };
  },
});

export const validateDatasetOp = defineOperation({
  name: 'validate_dataset',
  title: 'Validate a fine-tuning dataset file',
  description:
    "Checks a JSONL dataset against the rules its consumer applies (OpenAI's fine-tuning file checks, TRL's dataset types, " +
    "Axolotl's alpaca and chat_template loaders) and lists every problem with its line number.",
  input: z.object({
    data: z.string().describe('The file contents (the CLI reads the file)'),
    format: z.enum(DATASET_FORMATS).describe('Format to check'),
    minExamples: z.number().int().min(0).optional()
      .describe('Fewest records required (default: 10 for openai-* formats, 1 otherwise; 0 for a validation file)'),
    fileName: z.string().optional().describe('Name of the file, for messages'),
  }),
  output: z.object({
    ok: z.boolean(),
    examples: count,
    errors: z.array(z.object({ line: count.describe('1-based; 0 for the whole file'), message: z.string() })),
  }),
  access: 'filtered',
  http: { method: 'POST', path: '/v1/datasets/validate' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'dataset validate',
    args: ['data'],
    files: ['data'],
    failed: (r) => !r.ok,
    summary: (r) =>
      r.ok
        ? `Valid: ${counted(r.examples, 'example')}.`
        : `Invalid: ${counted(r.errors.length, 'problem')} in ${counted(r.examples, 'example')}.${r.errors.map((e) => `\n  ${e.line ? `line ${e.line}: ` : ''}${e.message}`).join('')}`,
    examples: ['exemplar dataset validate train.jsonl --format openai-sft'],
  },
  run: async ({ data, format, minExamples }) => validateDataset(format, data, { minExamples }),
});
