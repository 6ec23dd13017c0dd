import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/**
 * Every hyperparameter a run may carry, with its type and bounds, defined once: create_run's input
 * schema, the service, the backends' checks and the trainer config writer all read this. Trainer
 * configs are built from these typed values only, so no name or value a client sends reaches a file
 * (or a command line) unchecked.
 */

const intIn = (min: number, max: number) => {
  const error = `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
};
const numberIn = (above: number, max: number) => {
  const error = `must be a number above ${above} and at most ${max}`;
  return z.number({ error }).gt(above, { error }).max(max, { error });
};
/** OpenAI takes "auto" (let it choose) for most of its hyperparameters. */
const orAuto = <T extends z.ZodType>(schema: T, what: string) => z.union([z.literal('auto'), schema], { error: `must be "auto" or ${what}` });

export const HYPERPARAMETER_SHAPE = {
  // local (Axolotl and TRL configs): LoRA / QLoRA. Bounds are generous sanity limits, not advice.
  lora_r: intIn(1, 1024).describe('local: LoRA rank (default 16)'),
  lora_alpha: intIn(1, 4096).describe('local: LoRA alpha (default 32)'),
  lora_dropout: z.number({ error: 'must be a number from 0 to below 1' }).min(0, { error: 'must be a number from 0 to below 1' }).lt(1, { error: 'must be a number from 0 to below 1' }).describe('local: LoRA dropout (default 0.05)'),
  learning_rate: numberIn(0, 1).describe('local: learning rate (default 2e-4)'),
  num_epochs: intIn(1, 100).describe('local: epochs (default 3)'),
  micro_batch_size: intIn(1, 1024).describe('local: per-device batch size (default 2)'),
  gradient_accumulation_steps: intIn(1, 1024).describe('local: gradient accumulation steps (default 4)'),
  sequence_len: intIn(16, 262_144).describe('local: maximum sequence length in tokens (default 2048)'),
  qlora: z.boolean({ error: 'must be true or false' }).describe('local: load the base model in 4 bits (QLoRA)'),
  // OpenAI's supervised and DPO methods (beta is also the local DPO/KTO beta, where "auto" is refused).
  n_epochs: orAuto(intIn(1, 50), 'an integer from 1 to 50').describe('openai: epochs'),
  batch_size: orAuto(intIn(1, 256), 'an integer from 1 to 256').describe('openai: batch size'),
  learning_rate_multiplier: orAuto(numberIn(0, 10), 'a number above 0 and at most 10').describe('openai: learning rate multiplier'),
  beta: orAuto(numberIn(0, 2), 'a number above 0 and at most 2').describe('openai dpo, local trl-preference and trl-kto: DPO/KTO beta (local default 0.1)'),
  suffix: z
    .string({ error: 'must be a string' })
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, ".", "_" or "-"' })
    .describe('openai: added to the fine-tuned model name'),
  seed: intIn(0, 2_147_483_647).describe('openai: the job seed'),
} as const;

export type HyperparameterName = keyof typeof HYPERPARAMETER_SHAPE;
export const HYPERPARAMETER_NAMES = Object.keys(HYPERPARAMETER_SHAPE) as HyperparameterName[];

/** What each backend takes; external runs record any known name (another system trains). */
export const LOCAL_HYPERPARAMETERS: readonly HyperparameterName[] = [
  'lora_r', 'lora_alpha', 'lora_dropout', 'learning_rate', 'num_epochs', 'micro_batch_size', 'gradient_accumulation_steps', 'sequence_len', 'qlora', 'beta',
];
export const OPENAI_SUPERVISED_HYPERPARAMETERS: readonly HyperparameterName[] = ['n_epochs', 'batch_size', 'learning_rate_multiplier'];
export const OPENAI_DPO_HYPERPARAMETERS: readonly HyperparameterName[] = [...OPENAI_SUPERVISED_HYPERPARAMETERS, 'beta'];
/** OpenAI job-level options, sent beside the method's hyperparameters. */
export const OPENAI_JOB_OPTIONS: readonly HyperparameterName[] = ['suffix', 'seed'];

/** The schema create_run's input uses: known names only, each typed and bounded. */
export const hyperparametersSchema = z.strictObject(
  Object.fromEntries(Object.entries(HYPERPARAMETER_SHAPE).map(([k, v]) => [k, v.optional()])) as {
    [K in HyperparameterName]: z.ZodOptional<(typeof HYPERPARAMETER_SHAPE)[K]>;
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown hyperparameter${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (allowed: ${HYPERPARAMETER_NAMES.join(', ')})`
        : undefined,
  },
);

export type Hyperparameters = z.output<typeof hyperparametersSchema>;

/** Parses a run's hyperparameters, or throws a ValidationError naming the field (`hyperparameters.<name>`). */
export function parseHyperparameters(value: unknown): Hyperparameters {
  const result = hyperparametersSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = ['hyperparameters', ...issue.path.map(String)].join('.');
  const got = issue.path.length === 1 && value && typeof value === 'object' ? (value as Record<string, unknown>)[String(issue.path[0])] : undefined;
  const shown = got === undefined ? '' : ` (got ${String(JSON.stringify(got)).slice(0, 60)})`;
  throw new ValidationError(field, `${issue.code === 'invalid_type' && issue.path.length === 0 ? 'must be a JSON object' : issue.message}${shown}`);
}

/** Refuses names a backend does not take, listing the ones it does. */
export function checkNames(hyperparameters: Record<string, unknown>, allowed: readonly string[], who: string): void {
  for (const key of Object.keys(hyperparameters)) {
    if (!allowed.includes(key)) throw new ValidationError('hyperparameters', `${who} does not take "${key}" (it takes ${allowed.join(', ')})`);
  }
}
