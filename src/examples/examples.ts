import { z } from 'zod';
import type { AgentService } from '../agents/agents.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/errors.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { isoTime, isUuid, parseInput, uuid } from '../validation.ts';
import { checkExampleSize, exampleLimits, examplePatch, exampleType, validateExample, type Example, type ExampleLimits, type ExamplePatch, type NewExample } from './example.ts';

const EXAMPLE_COLUMNS = `id, agent_id AS "agentId", prompt, completion, reward_score AS "rewardScore",
  example_type AS "exampleType", content_hash AS "contentHash", metadata,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Rows per INSERT statement: large enough to amortise round trips, small enough for PGlite's memory. */
const INSERT_BATCH = 2000;
/** After adding this many rows, refresh the planner's statistics (PGlite has no autovacuum to do it). */
const ANALYZE_AFTER = 5000;

export const listExamplesFilter = z.object({
  exampleType: exampleType.optional().describe('Only positive or only negative examples'),
  minScore: z.number().min(0).max(1).optional().describe('Lowest reward_score to include'),
  maxScore: z.number().min(0).max(1).optional().describe('Highest reward_score to include'),
  contains: z.string().min(1).optional().describe('Text that the prompt or completion contains (case-insensitive)'),
  createdAfter: isoTime.optional().describe('Only examples created at or after this time (ISO 8601)'),
  createdBefore: isoTime.optional().describe('Only examples created before this time (ISO 8601)'),
});
export type ExampleFilter = z.input<typeof listExamplesFilter>;

export const listExamplesPage = listExamplesFilter.extend({
  limit: z.number().int().min(1).max(1000).default(50).describe('Page size, 1-1000'),
  sort: z.enum(['newest', 'oldest', 'best', 'worst']).default('newest').describe('newest or oldest first, or by reward: best or worst first'),
  cursor: z.string().optional().describe('The nextCursor of the previous page (same sort)'),
});
export type ListExamplesOptions = z.input<typeof listExamplesPage>;

export interface ExamplePage {
  items: Example[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export interface AddManyResult {
  added: number;
  duplicates: number;
  ids: string[];
}

export class ExampleService {
  /** The size limits every example is held to (text and metadata). */
  readonly limits: ExampleLimits;

  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    limits: number | ExampleLimits,
  ) {
    this.limits = exampleLimits(limits);
  }

  /** Adds one example. An identical prompt and completion already stored for the agent is a conflict. */
  async add(agentRef: string, input: unknown, actor: Actor): Promise<Example> {
    const example = validateExample(input, this.limits);
    return this.db.transaction(async (tx) => {
      const agent = await this.agents.resolve(agentRef, tx);
      const [id] = await insertBatch(tx, agent.id, [example]);
      if (!id) {
        const { rows } = await tx.query<{ id: string }>(
          'SELECT id FROM training_examples WHERE agent_id = $1 AND content_hash = exemplar_content_hash($2, $3)',
          [agent.id, example.prompt, example.completion],
        );
        throw new ConflictError(`agent "${agent.name}" already has this prompt and completion (example ${rows[0]?.id})`, {
          existingId: rows[0]?.id,
        });
      }
      await recordAudit(tx, { actor, action: 'example.create', entityType: 'example', entityId: id, agentId: agent.id });
      return this.byId(tx, id);
    });
  }

  /**
   * Adds many validated examples in one transaction. Examples whose prompt and completion the agent
   * already has (or that repeat within `examples`) are counted as duplicates and skipped.
   */
  async addMany(
    agentRef: string,
    examples: NewExample[],
    actor: Actor,
    opts: { onProgress?: (done: number, total: number) => void; auditDetails?: Record<string, unknown> } = {},
  ): Promise<AddManyResult> {
    examples.forEach((e, i) => checkExampleSize(e, this.limits, undefined, examples.length > 1 ? `examples.${i}.` : ''));
    const result = await this.db.transaction(async (tx) => {
      const agent = await this.agents.resolve(agentRef, tx);
      const ids: string[] = [];
      for (let i = 0; i < examples.length; i += INSERT_BATCH) {
        ids.push(...(await insertBatch(tx, agent.id, examples.slice(i, i + INSERT_BATCH))));
        opts.onProgress?.(Math.min(i + INSERT_BATCH, examples.length), examples.length);
      }
      const result = { added: ids.length, duplicates: examples.length - ids.length, ids };
      await recordAudit(tx, {
        actor,
        action: 'example.create_many',
        entityType: 'example',
        agentId: agent.id,
        details: { added: result.added, duplicates: result.duplicates, ...opts.auditDetails },
      });
      return result;
    });
    if (result.added >= ANALYZE_AFTER) await this.db.query('ANALYZE training_examples');
    return result;
  }

  async get(id: string): Promise<Example> {
    return this.byId(this.db, checkId(id));
  }

  private async byId(db: Queryable, id: string): Promise<Example> {
    const { rows } = await db.query<Example>(`SELECT ${EXAMPLE_COLUMNS} FROM training_examples WHERE id = $1`, [id]);
    if (rows.length === 0) throw new NotFoundError('example', id);
    return rows[0];
  }

  /**
   * One page of an agent's examples in the chosen order, with a keyset cursor (the last row's sort
   * key and id) that stays stable while rows are added.
   */
  async list(agentRef: string, options: ListExamplesOptions = {}): Promise<ExamplePage> {
    const opts = parseInput(listExamplesPage, options);
    const agent = await this.agents.resolve(agentRef);
    const where = filterSql(opts, [agent.id]);
    const order = SORTS[opts.sort];
    if (opts.cursor) {
      const [key, id] = decodeCursor(opts.cursor, opts.sort);
      where.params.push(key, id);
      where.clauses.push(`(${order.column}, id) ${order.after} ($${where.params.length - 1}::${order.type}, $${where.params.length}::uuid)`);
    }
    where.params.push(opts.limit + 1);
    const { rows } = await this.db.query<Example & { cursorKey: string | number }>(
      `SELECT ${EXAMPLE_COLUMNS}, ${order.key} AS "cursorKey"
         FROM training_examples
        WHERE ${where.clauses.join(' AND ')}
        ORDER BY ${order.column} ${order.direction}, id ${order.direction} LIMIT $${where.params.length}`,
      where.params,
    );
    const more = rows.length > opts.limit;
    const page = rows.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(({ cursorKey: _, ...e }) => e),
      nextCursor: more && last ? encodeCursor(opts.sort, last.cursorKey, last.id) : null,
    };
  }

  /** Streams every matching example of an agent in pages, for export. */
  async *iterate(agentRef: string, filter: ExampleFilter = {}, pageSize = 1000): AsyncGenerator<Example> {
    let cursor: string | undefined;
    do {
      const page = await this.list(agentRef, { ...filter, limit: pageSize, cursor });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async count(agentRef: string, filter: ExampleFilter = {}): Promise<number> {
    const opts = parseInput(listExamplesFilter, filter);
    const agent = await this.agents.resolve(agentRef);
    const where = filterSql(opts, [agent.id]);
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM training_examples WHERE ${where.clauses.join(' AND ')}`,
      where.params,
    );
    return rows[0].n;
  }

  async update(id: string, patch: ExamplePatch, actor: Actor): Promise<Example> {
    checkId(id);
    const p = parseInput(examplePatch, patch);
    if (Object.values(p).every((v) => v === undefined)) throw new ValidationError('', 'give at least one field to change');
    checkExampleSize(p, this.limits);
    try {
      return await this.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ agentId: string }>(
          `UPDATE training_examples SET prompt = coalesce($2, prompt), completion = coalesce($3, completion),
                  reward_score = coalesce($4, reward_score), example_type = coalesce($5, example_type),
                  metadata = coalesce($6::jsonb, metadata)
            WHERE id = $1 RETURNING agent_id AS "agentId"`,
          [id, p.prompt ?? null, p.completion ?? null, p.rewardScore ?? null, p.exampleType ?? null,
            p.metadata === undefined ? null : JSON.stringify(p.metadata)],
        );
        if (rows.length === 0) throw new NotFoundError('example', id);
        await recordAudit(tx, {
          actor, action: 'example.update', entityType: 'example', entityId: id, agentId: rows[0].agentId,
          details: { fields: Object.keys(p).filter((k) => p[k as keyof ExamplePatch] !== undefined) },
        });
        return this.byId(tx, id);
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw new ConflictError('another example of this agent already has this prompt and completion');
      throw err;
    }
  }

  /** Deletes the given examples, all or none: an unknown id deletes nothing. */
  async delete(ids: string[], actor: Actor): Promise<{ deleted: number }> {
    if (ids.length === 0) throw new ValidationError('ids', 'give at least one example id');
    ids.forEach((id, i) => checkId(id, ids.length > 1 ? `ids[${i}]` : 'id'));
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; agentId: string }>(
        'DELETE FROM training_examples WHERE id = ANY($1::uuid[]) RETURNING id, agent_id AS "agentId"',
        [unique],
      );
      if (rows.length !== unique.length) {
        const found = new Set(rows.map((r) => r.id));
        throw new NotFoundError('example', unique.filter((id) => !found.has(id)).join(', '));
      }
      for (const agentId of new Set(rows.map((r) => r.agentId))) {
        const mine = rows.filter((r) => r.agentId === agentId).map((r) => r.id);
        await recordAudit(tx, {
          actor, action: 'example.delete', entityType: 'example', entityId: mine.length === 1 ? mine[0] : null, agentId,
          details: { count: mine.length, ids: mine.slice(0, 100) },
        });
      }
      return { deleted: rows.length };
    });
  }
}

/** One multi-row INSERT through unnest(); returns the ids of the rows that were not duplicates. */
async function insertBatch(tx: Queryable, agentId: string, batch: NewExample[]): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type, metadata)
     SELECT $1, p, c, r, t, m::jsonb FROM unnest($2::text[], $3::text[], $4::float8[], $5::text[], $6::text[]) AS u(p, c, r, t, m)
     ON CONFLICT (agent_id, content_hash) DO NOTHING
     RETURNING id`,
    [
      agentId,
      batch.map((e) => e.prompt),
      batch.map((e) => e.completion),
      batch.map((e) => e.rewardScore),
      batch.map((e) => e.exampleType),
      batch.map((e) => JSON.stringify(e.metadata ?? {})),
    ],
  );
  return rows.map((r) => r.id);
}

/** The WHERE clauses of an example filter; `params[0]` must be the agent id. Shared with retrieval. */
export function filterSql(f: z.output<typeof listExamplesFilter>, params: unknown[]): { clauses: string[]; params: unknown[] } {
  const clauses = ['agent_id = $1'];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    clauses.push(sql(`$${params.length}`));
  };
  if (f.exampleType) add((n) => `example_type = ${n}`, f.exampleType);
  if (f.minScore !== undefined) add((n) => `reward_score >= ${n}`, f.minScore);
  if (f.maxScore !== undefined) add((n) => `reward_score <= ${n}`, f.maxScore);
  if (f.contains) add((n) => `(prompt ILIKE ${n} OR completion ILIKE ${n})`, `%${f.contains.replace(/[\\%_]/g, '\\$&')}%`);
  if (f.createdAfter) add((n) => `created_at >= ${n}`, f.createdAfter);
  if (f.createdBefore) add((n) => `created_at < ${n}`, f.createdBefore);
  return { clauses, params };
}

function checkId(id: string, field = 'id'): string {
  if (typeof id !== 'string' || !isUuid(id)) throw new ValidationError(field, `must be a UUID, got ${JSON.stringify(id)}`);
  return id;
}

type Sort = z.output<typeof listExamplesPage>['sort'];

/** Each order, with its keyset column. Times go through the cursor as text to keep microseconds. */
const SORTS: Record<Sort, { column: string; type: string; direction: 'ASC' | 'DESC'; after: '<' | '>'; key: string }> = {
  newest: { column: 'created_at', type: 'timestamptz', direction: 'DESC', after: '<', key: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` },
  oldest: { column: 'created_at', type: 'timestamptz', direction: 'ASC', after: '>', key: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` },
  best: { column: 'reward_score', type: 'float8', direction: 'DESC', after: '<', key: 'reward_score' },
  worst: { column: 'reward_score', type: 'float8', direction: 'ASC', after: '>', key: 'reward_score' },
};

function encodeCursor(sort: Sort, key: string | number, id: string): string {
  return Buffer.from(JSON.stringify([sort, key, id])).toString('base64url');
}

function decodeCursor(cursor: string, sort: Sort): [string | number, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // reported below
  }
  if (Array.isArray(parsed) && parsed.length === 3 && uuid.safeParse(parsed[2]).success) {
    const [cursorSort, key, id] = parsed as [unknown, unknown, string];
    if (cursorSort !== sort) throw new ValidationError('cursor', `belongs to sort "${String(cursorSort)}", not "${sort}"`);
    const timeKey = typeof key === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(key);
    if (SORTS[sort].type === 'timestamptz' ? timeKey : typeof key === 'number' && Number.isFinite(key)) return [key as string | number, id];
  }
  throw new ValidationError('cursor', 'is not a cursor returned by a previous page');
}
