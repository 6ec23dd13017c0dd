import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { exampleType as exampleTypeSchema } from '../examples/example.ts';
import { listExamplesFilter } from '../examples/examples.ts';
import { DATASET_FORMATS } from './formats.ts';

// What a dataset build takes. Apart from the builder, so the doors can describe it without loading
// the tokenizer and the embedders.

/** The most examples a query selects: hybrid retrieval's own top-k limit. */
export const MAX_QUERY_LIMIT = 200;

/** Default cosine at or above which two examples are near duplicates; also the eval-set guard's (src/evaluation/held-out.ts). */
export const DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.95;

export const datasetSpec = z.object({
  agent: agentRefInput,
  format: z.enum(DATASET_FORMATS).describe('Output format'),
  query: z.string().min(1, 'must not be empty').optional()
    .describe(`Select the examples most relevant to this text by hybrid search (at most ${MAX_QUERY_LIMIT}); without it, every matching example`),
  minScore: z.number().min(0).max(1).optional().describe('Lowest reward_score to include'),
  maxScore: z.number().min(0).max(1).optional().describe('Highest reward_score to include'),
  exampleType: exampleTypeSchema.optional()
    .describe('Only positive or only negative examples (default: positive for SFT formats, both for DPO, preference and KTO)'),
  contains: listExamplesFilter.shape.contains,
  createdAfter: listExamplesFilter.shape.createdAfter,
  createdBefore: listExamplesFilter.shape.createdBefore,
  limit: z.number().int().min(1).optional().describe('Most examples to select (newest first without a query)'),
  dedupe: z.boolean().default(true).describe('Remove exact and near duplicates'),
  nearDuplicateThreshold: z.number().min(0).max(1).default(DEFAULT_NEAR_DUPLICATE_THRESHOLD)
    .describe('Cosine of prompt+completion (hashing embeddings) at or above which two examples are near duplicates; 0 turns it off'),
  validationFraction: z.number().min(0).max(0.5).default(0.1).describe('Share of examples put in the validation file, 0..0.5'),
  seed: z.number().int().default(42).describe('Seed of the train/validation split and of the record order'),
  redact: z.boolean().default(false).describe('Replace emails, phone numbers and API keys with placeholders'),
  systemPrompt: z.string().optional()
    .describe("System message for the chat formats (default: the agent's production prompt, if any; \"\" for none)"),
});
export type DatasetSpec = z.input<typeof datasetSpec>;
