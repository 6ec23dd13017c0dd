import { z } from 'zod';
import { TextTooLargeError } from '../errors.ts';
import { parseInput } from '../validation.ts';

export const EXAMPLE_TYPES = ['positive', 'negative'] as const;
export type ExampleType = (typeof EXAMPLE_TYPES)[number];

export const exampleType = z.enum(EXAMPLE_TYPES, { error: 'must be "positive" or "negative"' });
export const rewardScore = z
  .number({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a number between 0 and 1') })
  .min(0, 'must be between 0 and 1')
  .max(1, 'must be between 0 and 1');
const nonEmpty = z.string().refine((s) => s.trim().length > 0, 'must not be empty');
export const metadata = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' });

/** One training example as a caller hands it in. */
export const newExample = z.object({
  prompt: nonEmpty.describe('What the agent was asked'),
  completion: z.string().describe('What the agent answered'),
  rewardScore: rewardScore.describe('How good the answer was, 0..1'),
  exampleType: exampleType.describe('positive (to imitate) or negative (to avoid)'),
  metadata: metadata.default({}).describe('Free-form JSON object, e.g. {"source":"prod"}'),
});
export type NewExample = z.output<typeof newExample>;

export const examplePatch = z.object({
  prompt: nonEmpty.optional().describe('New prompt'),
  completion: z.string().optional().describe('New completion'),
  rewardScore: rewardScore.optional().describe('New reward score, 0..1'),
  exampleType: exampleType.optional().describe('New type: positive or negative'),
  metadata: metadata.optional().describe('New metadata (replaces the old object)'),
});
export type ExamplePatch = z.output<typeof examplePatch>;

export interface Example {
  id: string;
  agentId: string;
  prompt: string;
  completion: string;
  rewardScore: number;
  exampleType: ExampleType;
  contentHash: string;
  metadata: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

/** An example as the doors send it (JSON: dates are ISO strings). */
export const exampleJson = z.object({
  id: z.string(),
  agentId: z.string(),
  prompt: z.string(),
  completion: z.string(),
  rewardScore: z.number(),
  exampleType: exampleType,
  contentHash: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Validates one example, including the byte limit that zod cannot know. `line` names a file line. */
export function validateExample(input: unknown, maxTextBytes: number, line?: number): NewExample {
  const example = parseInput(newExample, input, line);
  checkTextSize(example, maxTextBytes, line);
  return example;
}

export function checkTextSize(e: { prompt?: string; completion?: string }, maxTextBytes: number, line?: number): void {
  for (const field of ['prompt', 'completion'] as const) {
    const text = e[field];
    // Cheap pre-check: a UTF-8 string is at most 3 bytes per UTF-16 unit.
    if (text !== undefined && text.length * 3 > maxTextBytes) {
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes > maxTextBytes) throw new TextTooLargeError(field, bytes, maxTextBytes, line);
    }
  }
}
