import { z } from 'zod';
import { DEFAULT_MAX_METADATA_BYTES, DEFAULT_MAX_METADATA_DEPTH } from '../config/config.ts';
import { TextTooLargeError, ValidationError } from '../errors.ts';
import { checkInputValue, parseInput } from '../validation.ts';

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
  /** Where it came from (import, ui, mcp, rest, cli, demo, library, database); null for examples older than the field. */
  source: string | null;
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
  source: z.string().nullable().describe('Where it came from: import, ui, mcp, rest, cli, demo, library or database (written outside Exemplar); null for examples older than this field'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** One rating in an example's reward history, as the doors send it. */
export const rewardChangeJson = z.object({
  at: z.string().describe('ISO 8601'),
  actor: z.string().describe('As stored: cli:<user>, key:<api key id>, or database (a change made outside Exemplar, e.g. psql)'),
  actorName: z.string().describe("Who, for people: the API key's name for key:<id>, otherwise the actor"),
  oldReward: z.number(),
  newReward: z.number(),
  oldType: exampleType,
  newType: exampleType,
});

/** The size limits of an example's parts; the Config has them (EXEMPLAR_MAX_TEXT_BYTES, ...). */
export interface ExampleLimits {
  maxTextBytes: number;
  maxMetadataBytes: number;
  maxMetadataDepth: number;
}

/** Limits for callers that give only the text limit. */
export function exampleLimits(limits: number | ExampleLimits): ExampleLimits {
  return typeof limits === 'number' ? { maxTextBytes: limits, maxMetadataBytes: DEFAULT_MAX_METADATA_BYTES, maxMetadataDepth: DEFAULT_MAX_METADATA_DEPTH } : limits;
}

/** Validates one example, including the size limits that zod cannot know. `line` names a file line. */
export function validateExample(input: unknown, limits: number | ExampleLimits, line?: number): NewExample {
  const example = parseInput(newExample, input, line);
  checkExampleSize(example, exampleLimits(limits), line);
  return example;
}

/**
 * The limits of an example's text and metadata; `field` prefixes the names in errors (e.g.
 * `examples.3.`), `line` names a file line.
 */
export function checkExampleSize(e: { prompt?: string; completion?: string; metadata?: Record<string, unknown> }, limits: number | ExampleLimits, line?: number, field = ''): void {
  const { maxTextBytes, maxMetadataBytes, maxMetadataDepth } = exampleLimits(limits);
  for (const name of ['prompt', 'completion'] as const) {
    const text = e[name];
    // Cheap pre-check: a UTF-8 string is at most 3 bytes per UTF-16 unit.
    if (text !== undefined && text.length * 3 > maxTextBytes) {
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes > maxTextBytes) throw new TextTooLargeError(`${field}${name}`, bytes, maxTextBytes, line);
    }
  }
  if (e.metadata === undefined) return;
  // The depth first: JSON.stringify recurses, and the nesting is what could exhaust its stack. (Its
  // strings were checked with the rest of the input, by parseInput.)
  checkInputValue(e.metadata, { line, maxDepth: maxMetadataDepth, depthVariable: 'EXEMPLAR_MAX_METADATA_DEPTH', root: [`${field}metadata`], strings: false });
  const bytes = Buffer.byteLength(JSON.stringify(e.metadata), 'utf8');
  if (bytes > maxMetadataBytes) {
    throw new ValidationError(`${field}metadata`, `is ${bytes} bytes as JSON, over the limit of ${maxMetadataBytes} bytes (EXEMPLAR_MAX_METADATA_BYTES)`, line, {
      bytes,
      limit: maxMetadataBytes,
      variable: 'EXEMPLAR_MAX_METADATA_BYTES',
    });
  }
}
