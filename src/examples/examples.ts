import { z } from 'zod';
import type { AgentService } from '../agents/agents.ts';
import { recordAudit, withActorNames, type Actor } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/errors.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { isoTime, isUuid, parseInput, uuid } from '../validation.ts';
import { EXAMPLE_TYPES, checkExampleSize, exampleLimits, examplePatch, exampleType, rewardScore, validateExample, type Example, type ExampleLimits, type ExamplePatch, type ExampleType, type NewExample } from './example.ts';
import { EXAMPLE_SOURCES, tagWrite } from './origin.ts';

const EXAMPLE_COLUMNS = `id, agent_id AS "agentId", prompt, completion, reward_score AS "rewardScore",
  example_type AS "exampleType", content_hash AS "contentHash", metadata,
  source, created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Rows per INSERT statement: large enough to amortise round trips, small enough for PGlite's memory. */
const INSERT_BATCH = 2000;
/** After adding this many rows, refresh the planner's statistics (PGlite has no autovacuum to do it). */
const ANALYZE_AFTER = 5000;

export const listExamplesFilter = z.object({
  exampleType: exampleType.optional().describe('Only positive or only negative examples'),
  minScore: z.number().min(0).max(1).optional().describe('Lowest reward_score to include'),
  maxScore: z.number().min(0).max(1).optional().describe('Highest reward_score to include'),
  contains: z.string().min(1).optional().describe('Text in the prompt or completion (any case)'),
  createdAfter: isoTime.optional().describe('Created at or after (ISO 8601)'),
  createdBefore: isoTime.optional().describe('Created before (ISO 8601)'),
  metadata: z
    .record(z.string(), z.unknown(), { error: 'must be a JSON object, e.g. {"source":"prod"}' })
    .optional()
    .describe('Only examples whose metadata contains this object, e.g. {"team":"a"}'),
  metadataKeys: z.array(z.string().min(1)).min(1).max(20).optional().describe('Only examples whose metadata has all these keys'),
  source: z.enum(EXAMPLE_SOURCES).optional().describe('Only examples from this source'),
  // "Rated" means a reward history entry by a key or the CLI; changes made straight in the database (actor "database") do not count.
  needsReview: z.boolean().optional().describe('true: the review queue (never rated since creation); false: rated ones'),
});
export type ExampleFilter = z.input<typeof listExamplesFilter>;

export const listExamplesPage = listExamplesFilter.extend({
  limit: z.number().int().min(1).max(1000).default(50).describe('Page size, 1-1000'),
  sort: z
    .enum(['newest', 'oldest', 'best', 'worst', 'positive_first', 'negative_first'])
    .default('newest')
    .describe('best and worst: by reward; positive_first: newest first within a type, negative_first: its reverse'),
  cursor: z.string().optional().describe('The nextCursor of the previous page (same sort)'),
});
export type ListExamplesOptions = z.input<typeof listExamplesPage>;

export interface ExamplePage {
  items: Example[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
  /** How many examples match the filters, on every page (not only the rest). */
  total: number;
}

/** Most example ids one bulk change takes. */
export const MAX_BULK_IDS = 1000;

export type BulkAction = { action: 'set_type'; exampleType: ExampleType } | { action: 'set_reward'; rewardScore: number } | { action: 'delete' };

/** One rating of an example (example_reward_history). */
export interface RewardChange {
  at: Date;
  /** As stored: cli:<user>, key:<api key id>, or database (a change made outside Exemplar). */
  actor: string;
  /** The key's name for key:<id>; otherwise the actor. */
  actorName: string;
  oldReward: number;
  newReward: number;
  oldType: ExampleType;
  newType: ExampleType;
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
      await tagWrite(tx, actor);
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
      await tagWrite(tx, actor);
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

  /** An example's ratings, oldest first: who changed its reward or type (or confirmed them), when, from what to what. */
  async history(id: string, limit = 1000): Promise<RewardChange[]> {
    const { rows } = await this.db.query<Omit<RewardChange, 'actorName'>>(
      `SELECT at, actor, old_reward AS "oldReward", new_reward AS "newReward", old_type AS "oldType", new_type AS "newType"
         FROM example_reward_history WHERE example_id = $1 ORDER BY id LIMIT $2`,
      [checkId(id), limit],
    );
    return withActorNames(this.db, rows, 'actor');
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
  async list(agentRef: string, options: ListExamplesOptions = {}, { withTotal = true } = {}): Promise<ExamplePage> {
    const opts = parseInput(listExamplesPage, options);
    checkFilter(opts);
    const agent = await this.agents.resolve(agentRef);
    const where = filterSql(opts, [agent.id]);
    const countSql = `SELECT count(*)::int AS n FROM training_examples WHERE ${where.clauses.join(' AND ')}`;
    const countParams = [...where.params];
    const order = SORTS[opts.sort];
    if (opts.cursor) {
      const [key, id] = decodeCursor(opts.cursor, opts.sort);
      const keys = Array.isArray(key) ? key : [key];
      where.params.push(...keys, id);
      const n = where.params.length;
      const after = order.types.map((type, i) => `$${n - order.types.length + i}::${type}`);
      where.clauses.push(`(${order.columns.join(', ')}, id) ${order.after} (${after.join(', ')}, $${n}::uuid)`);
    }
    where.params.push(opts.limit + 1);
    const orderBy = `${order.columns.map((c) => `${c} ${order.direction}`).join(', ')}, id ${order.direction}`;
    // The page first, then its columns and cursor keys: an order without an index sorts every
    // matching row, and the key's to_char() would otherwise run on each of them.
    const [{ rows }, total] = await Promise.all([
      this.db.query<Example & { cursorKey: CursorKey }>(
        `WITH page AS MATERIALIZED (
           SELECT * FROM training_examples WHERE ${where.clauses.join(' AND ')} ORDER BY ${orderBy} LIMIT $${where.params.length})
         SELECT ${EXAMPLE_COLUMNS}, ${order.key} AS "cursorKey" FROM page ORDER BY ${orderBy}`,
        where.params,
      ),
      withTotal ? this.db.query<{ n: number }>(countSql, countParams).then((r) => r.rows[0].n) : -1,
    ]);
    const more = rows.length > opts.limit;
    const page = rows.slice(0, opts.limit);
    const last = page[page.length - 1];
    return {
      items: page.map(({ cursorKey: _, ...e }) => e),
      nextCursor: more && last ? encodeCursor(opts.sort, last.cursorKey, last.id) : null,
      total,
    };
  }

  /** Streams every matching example of an agent in pages, for export. */
  async *iterate(agentRef: string, filter: ExampleFilter = {}, pageSize = 1000): AsyncGenerator<Example> {
    let cursor: string | undefined;
    do {
      const page = await this.list(agentRef, { ...filter, limit: pageSize, cursor }, { withTotal: false });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async count(agentRef: string, filter: ExampleFilter = {}): Promise<number> {
    const opts = parseInput(listExamplesFilter, filter);
    checkFilter(opts);
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
        await tagWrite(tx, actor, { rating: p.rewardScore !== undefined || p.exampleType !== undefined });
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

  /**
   * One change to many examples, in one transaction, all or none: an unknown id changes nothing.
   * Setting the reward or the type is a rating of each example (see history), even where the value
   * was already the same. Audited once per agent.
   */
  async bulk(ids: string[], change: BulkAction, actor: Actor): Promise<{ action: BulkAction['action']; affected: number; ids: string[] }> {
    if (!Array.isArray(ids) || ids.length === 0) throw new ValidationError('ids', 'give at least one example id');
    if (ids.length > MAX_BULK_IDS) throw new ValidationError('ids', `at most ${MAX_BULK_IDS} ids at a time, got ${ids.length}`);
    ids.forEach((id, i) => checkId(id, `ids[${i}]`));
    if (change.action === 'delete') {
      const { deleted } = await this.delete(ids, actor);
      return { action: 'delete', affected: deleted, ids: [...new Set(ids.map((id) => id.toLowerCase()))] };
    }
    const value = change.action === 'set_reward' ? parseInput(rewardScore, change.rewardScore) : parseInput(exampleType, change.exampleType);
    const column = change.action === 'set_reward' ? 'reward_score' : 'example_type';
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))].sort();
    return this.db.transaction(async (tx) => {
      await tagWrite(tx, actor, { rating: true });
      const { rows } = await tx.query<{ id: string; agentId: string }>(
        `UPDATE training_examples SET ${column} = $2 WHERE id = ANY($1::uuid[]) RETURNING id::text, agent_id AS "agentId"`,
        [unique, value],
      );
      await allFoundAndAudited(tx, unique, rows, actor, `example.bulk_${change.action}`, {
        [change.action === 'set_reward' ? 'rewardScore' : 'exampleType']: value,
      });
      return { action: change.action, affected: rows.length, ids: unique };
    });
  }

  /** Deletes the given examples, all or none: an unknown id deletes nothing. */
  async delete(ids: string[], actor: Actor): Promise<{ deleted: number }> {
    if (ids.length === 0) throw new ValidationError('ids', 'give at least one example id');
    ids.forEach((id, i) => checkId(id, ids.length > 1 ? `ids[${i}]` : 'id'));
    const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
    return this.db.transaction(async (tx) => {
      await tagWrite(tx, actor);
      const { rows } = await tx.query<{ id: string; agentId: string }>(
        'DELETE FROM training_examples WHERE id = ANY($1::uuid[]) RETURNING id, agent_id AS "agentId"',
        [unique],
      );
      await allFoundAndAudited(tx, unique, rows, actor, 'example.delete');
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
  if (f.metadata) add((n) => `metadata @> ${n}::jsonb`, JSON.stringify(f.metadata));
  if (f.metadataKeys) add((n) => `metadata ?& ${n}::text[]`, f.metadataKeys);
  if (f.source) add((n) => `source = ${n}`, f.source);
  if (f.needsReview !== undefined) {
    clauses.push(`${f.needsReview ? 'NOT ' : ''}EXISTS (SELECT 1 FROM example_reward_history h
      WHERE h.example_id = training_examples.id AND h.actor <> 'database')`);
  }
  return { clauses, params };
}

/** Refuses filters that can match nothing by construction, saying why (rather than an empty page). */
export function checkFilter(f: { minScore?: number; maxScore?: number; createdAfter?: string; createdBefore?: string }): void {
  if (f.minScore !== undefined && f.maxScore !== undefined && f.minScore > f.maxScore) {
    throw new ValidationError('minScore', `is above maxScore (${f.minScore} > ${f.maxScore}): no example could match`);
  }
  if (f.createdAfter && f.createdBefore && Date.parse(f.createdAfter) >= Date.parse(f.createdBefore)) {
    throw new ValidationError('createdAfter', `is not before createdBefore (${f.createdAfter} >= ${f.createdBefore}): no example could match`);
  }
}

function checkId(id: string, field = 'id'): string {
  if (typeof id !== 'string' || !isUuid(id)) throw new ValidationError(field, `must be a UUID, got ${JSON.stringify(id)}`);
  return id;
}

type Sort = z.output<typeof listExamplesPage>['sort'];

const TIME_KEY = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const TIME_KEY_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
/** A page's last sort key: a time (as text, to keep microseconds), a reward, or [type, time]. */
type CursorKey = string | number | [string, string];

/**
 * Each order, with its keyset columns (all in one direction, so one row comparison pages them).
 * By type: positive_first is positive, then negative, newest first within each; negative_first is
 * its exact reverse (a grid's second click on the column).
 */
const SORTS: Record<Sort, { columns: string[]; types: string[]; direction: 'ASC' | 'DESC'; after: '<' | '>'; key: string }> = {
  newest: { columns: ['created_at'], types: ['timestamptz'], direction: 'DESC', after: '<', key: TIME_KEY },
  oldest: { columns: ['created_at'], types: ['timestamptz'], direction: 'ASC', after: '>', key: TIME_KEY },
  best: { columns: ['reward_score'], types: ['float8'], direction: 'DESC', after: '<', key: 'reward_score' },
  worst: { columns: ['reward_score'], types: ['float8'], direction: 'ASC', after: '>', key: 'reward_score' },
  positive_first: { columns: ['example_type', 'created_at'], types: ['text', 'timestamptz'], direction: 'DESC', after: '<', key: `json_build_array(example_type, ${TIME_KEY})` },
  negative_first: { columns: ['example_type', 'created_at'], types: ['text', 'timestamptz'], direction: 'ASC', after: '>', key: `json_build_array(example_type, ${TIME_KEY})` },
};

function encodeCursor(sort: Sort, key: CursorKey, id: string): string {
  return Buffer.from(JSON.stringify([sort, key, id])).toString('base64url');
}

function decodeCursor(cursor: string, sort: Sort): [CursorKey, string] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    // reported below
  }
  if (Array.isArray(parsed) && parsed.length === 3 && uuid.safeParse(parsed[2]).success) {
    const [cursorSort, key, id] = parsed as [unknown, unknown, string];
    if (cursorSort !== sort) throw new ValidationError('cursor', `belongs to sort "${String(cursorSort)}", not "${sort}"`);
    const isTime = (k: unknown): k is string => typeof k === 'string' && TIME_KEY_RE.test(k);
    const [first] = SORTS[sort].types;
    const valid =
      SORTS[sort].types.length === 2
        ? Array.isArray(key) && key.length === 2 && EXAMPLE_TYPES.includes(key[0]) && isTime(key[1])
        : first === 'timestamptz'
          ? isTime(key)
          : typeof key === 'number' && Number.isFinite(key);
    if (valid) return [key as CursorKey, id];
  }
  throw new ValidationError('cursor', 'is not a cursor returned by a previous page');
}

/**
 * For a change to many examples by id: every id must have been found (otherwise the transaction
 * throws, so nothing changes), and each agent touched gets one audit row with the ids (the first 100).
 */
async function allFoundAndAudited(
  tx: Queryable,
  ids: string[],
  rows: { id: string; agentId: string }[],
  actor: Actor,
  action: string,
  details: Record<string, unknown> = {},
): Promise<void> {
  if (rows.length !== ids.length) {
    const found = new Set(rows.map((r) => r.id));
    throw new NotFoundError('example', ids.filter((id) => !found.has(id)).join(', '));
  }
  for (const agentId of new Set(rows.map((r) => r.agentId))) {
    const mine = rows.filter((r) => r.agentId === agentId).map((r) => r.id);
    await recordAudit(tx, {
      actor, action, entityType: 'example', entityId: mine.length === 1 ? mine[0] : null, agentId,
      details: { count: mine.length, ids: mine.slice(0, 100), ...details },
    });
  }
}
