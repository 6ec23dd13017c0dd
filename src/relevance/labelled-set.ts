import { z } from 'zod';
import type { Queryable } from '../db/database.ts';
import { ValidationError } from '../errors.ts';
import { exampleType } from '../examples/example.ts';
import { listExamplesFilter } from '../examples/examples.ts';
import { isUuid, parseInput } from '../validation.ts';
import type { Labels } from './metrics.ts';

/** One relevant example: its id, or (for hand-written files) a prefix of its prompt. */
const relevantItem = z.union([
  z.string().min(1, 'must not be empty').describe('An example id, or a prefix of its prompt'),
  z
    .object({
      id: z.string().optional().describe('The example id'),
      prompt: z.string().min(1).optional().describe('A prefix of the example prompt, instead of its id'),
      exampleType: exampleType.optional().describe('Narrows a prompt prefix shared by a positive and a negative example'),
      grade: z.number().int().min(0).max(3).default(1).describe('How relevant: 1 relevant (default), 2 or 3 more so, 0 not relevant'),
    })
    .strict()
    .refine((r) => (r.id === undefined) !== (r.prompt === undefined), 'give either "id" or "prompt"'),
]);

/** One labelled question: a query, what answers it, and the search filters to ask it with. */
export const labelledQuestion = z
  .object({
    query: z.string().min(1, 'must not be empty').describe('The search query'),
    relevant: z.array(relevantItem).min(1, 'list at least one relevant example').describe('Examples that answer the query'),
    minScore: z.number().min(0).max(1).optional(),
    exampleType: exampleType.optional(),
    maxScore: listExamplesFilter.shape.maxScore,
    contains: listExamplesFilter.shape.contains,
    createdAfter: listExamplesFilter.shape.createdAfter,
    createdBefore: listExamplesFilter.shape.createdBefore,
  })
  .strict();
export type LabelledQuestion = z.input<typeof labelledQuestion>;

/** A question ready to run: its filters, and its labels resolved to example ids. */
export interface ResolvedQuestion {
  /** Line of the file (or position in the list), 1-based, for messages. */
  line: number;
  query: string;
  filters: Omit<z.output<typeof labelledQuestion>, 'query' | 'relevant'>;
  labels: Labels;
}

/**
 * Reads a labelled set: JSONL text (one question per line; blank lines skipped) or a list of
 * questions. Every problem names its line and field.
 */
export function parseLabelledSet(source: string | unknown[]): { line: number; question: z.output<typeof labelledQuestion> }[] {
  const items: { line: number; value: unknown }[] = [];
  if (typeof source === 'string') {
    source.split('\n').forEach((text, i) => {
      if (!text.trim()) return;
      try {
        items.push({ line: i + 1, value: JSON.parse(text) });
      } catch (err) {
        throw new ValidationError('', `not valid JSON (${(err as Error).message})`, i + 1);
      }
    });
  } else {
    source.forEach((value, i) => items.push({ line: i + 1, value }));
  }
  if (items.length === 0) throw new ValidationError('questions', 'the labelled set has no questions');
  return items.map(({ line, value }) => ({ line, question: parseInput(labelledQuestion, value, line) }));
}

/** Resolves every relevant item to an example of the agent, with its current reward. */
export async function resolveLabelledSet(
  db: Queryable,
  agentId: string,
  questions: { line: number; question: z.output<typeof labelledQuestion> }[],
): Promise<ResolvedQuestion[]> {
  const out: ResolvedQuestion[] = [];
  for (const { line, question } of questions) {
    const { query, relevant, ...filters } = question;
    const labels: Labels = new Map();
    for (const [i, item] of relevant.entries()) {
      const field = `relevant.${i}`;
      const spec = typeof item === 'string' ? (isUuid(item) ? { id: item, grade: 1 } : { prompt: item, grade: 1 }) : item;
      const found = await findExample(db, agentId, spec, field, line);
      labels.set(found.id, { grade: Math.max(spec.grade, labels.get(found.id)?.grade ?? 0), reward: found.reward });
    }
    out.push({ line, query, filters, labels });
  }
  return out;
}

async function findExample(
  db: Queryable,
  agentId: string,
  spec: { id?: string; prompt?: string; exampleType?: 'positive' | 'negative' },
  field: string,
  line: number,
): Promise<{ id: string; reward: number }> {
  if (spec.id !== undefined) {
    if (!isUuid(spec.id)) throw new ValidationError(`${field}.id`, `must be a UUID, got ${JSON.stringify(spec.id)}`, line);
    const { rows } = await db.query<{ id: string; reward: number }>(
      'SELECT id::text, reward_score AS reward FROM training_examples WHERE id = $1 AND agent_id = $2',
      [spec.id, agentId],
    );
    if (!rows[0]) throw new ValidationError(`${field}.id`, `the agent has no example ${spec.id}`, line);
    return rows[0];
  }
  const prefix = spec.prompt!;
  const { rows } = await db.query<{ id: string; reward: number; type: string }>(
    `SELECT id::text, reward_score AS reward, example_type AS type FROM training_examples
      WHERE agent_id = $1 AND left(prompt, $3) = $2 AND ($4::text IS NULL OR example_type = $4)
      ORDER BY created_at, id LIMIT 6`,
    [agentId, prefix, [...prefix].length, spec.exampleType ?? null],
  );
  const shown = JSON.stringify(prefix.length > 40 ? `${prefix.slice(0, 40)}…` : prefix);
  if (rows.length === 0) {
    throw new ValidationError(field, `no ${spec.exampleType ? `${spec.exampleType} ` : ''}example's prompt starts with ${shown}`, line);
  }
  if (rows.length > 1) {
    const types = new Set(rows.map((r) => r.type));
    const hint = !spec.exampleType && types.size > 1 ? 'add "exampleType", or a longer prefix' : 'give a longer prefix or the id';
    throw new ValidationError(field, `${rows.length > 5 ? 'more than 5' : rows.length} examples' prompts start with ${shown}; ${hint}`, line);
  }
  return rows[0];
}
