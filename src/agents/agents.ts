import { z } from 'zod';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { sqlState, UNIQUE_VIOLATION } from '../db/errors.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { checkInputValue, isUuid, parseInput } from '../validation.ts';

export const DEFAULT_SIMILARITY_WEIGHT = 0.6;
export const DEFAULT_SCORE_WEIGHT = 0.4;

export const agentName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 letters, digits, dots, dashes or underscores, starting with a letter or digit')
  .describe('Unique agent name, e.g. "code-helper"');
/** How callers name an agent: its name or its id. */
export const agentRefInput = z.string().min(1, 'give an agent name or id').describe('Agent name or id');

const weight = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');

export const createAgentInput = z.object({
  name: agentName,
  description: z.string().max(10_000).default('').describe('What the agent does; used as part of the optimization query'),
  similarityWeight: weight.default(DEFAULT_SIMILARITY_WEIGHT).describe('α: weight of query similarity in the hybrid rank'),
  scoreWeight: weight.default(DEFAULT_SCORE_WEIGHT).describe('β: weight of the reward score in the hybrid rank'),
  embeddingModel: z
    .string()
    .min(1)
    .default('hashing-v2')
    .describe('Embedding model of its index: "hashing-v2" (offline, lexical; the default), "hashing" (v1), "openai:<model>" or "transformers:<model>"'),
});
export type CreateAgentInput = z.input<typeof createAgentInput>;

export const updateAgentInput = z.object({
  description: z.string().max(10_000).optional().describe('New description'),
  similarityWeight: weight.optional().describe('New α (similarity weight)'),
  scoreWeight: weight.optional().describe('New β (reward weight)'),
  embeddingModel: z.string().min(1).optional().describe('New embedding model; the index is rebuilt with it'),
});
export type UpdateAgentInput = z.input<typeof updateAgentInput>;

/** An agent's own columns, without the example count (which costs a scan). */
export interface AgentRef {
  id: string;
  name: string;
  similarityWeight: number;
  scoreWeight: number;
  embeddingModel: string;
}

export interface Agent {
  id: string;
  name: string;
  description: string;
  similarityWeight: number;
  scoreWeight: number;
  embeddingModel: string;
  exampleCount: number;
  createdAt: Date;
  updatedAt: Date;
}

/** An agent as the doors send it (JSON: dates are ISO strings). */
export const agentJson = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  similarityWeight: z.number(),
  scoreWeight: z.number(),
  embeddingModel: z.string(),
  exampleCount: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

const AGENT_COLUMNS = `a.id, a.name, a.description, a.similarity_weight AS "similarityWeight",
  a.score_weight AS "scoreWeight", a.embedding_model AS "embeddingModel",
  (SELECT count(*)::int FROM training_examples e WHERE e.agent_id = a.id) AS "exampleCount",
  a.created_at AS "createdAt", a.updated_at AS "updatedAt"`;

export class AgentService {
  constructor(
    private readonly db: Database,
    /** Throws a ValidationError when an embedding model spec is unusable. */
    private readonly checkEmbeddingModel: (spec: string) => void = () => {},
  ) {}

  async create(input: CreateAgentInput, actor: Actor): Promise<Agent> {
    const a = parseInput(createAgentInput, input);
    this.checkEmbeddingModel(a.embeddingModel);
    try {
      return await this.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `INSERT INTO agents (name, description, similarity_weight, score_weight, embedding_model) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
          [a.name, a.description, a.similarityWeight, a.scoreWeight, a.embeddingModel],
        );
        const agent = await this.byId(tx, rows[0].id);
        await recordAudit(tx, { actor, action: 'agent.create', entityType: 'agent', entityId: agent.id, agentId: agent.id, details: a });
        return agent;
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) throw new ConflictError(`an agent named "${a.name}" already exists`, { field: 'name' });
      throw err;
    }
  }

  /** Finds an agent by id or by name, with its example count. */
  async get(ref: string, db: Queryable = this.db): Promise<Agent> {
    return this.byId(db, (await this.resolve(ref, db)).id);
  }

  /** Finds an agent by id or by name, without counting its examples: for services acting on it. */
  async resolve(ref: string, db: Queryable = this.db): Promise<AgentRef> {
    if (typeof ref !== 'string' || ref === '') throw new ValidationError('agent', 'give an agent name or id');
    checkInputValue(ref, { root: ['agent'] }); // names that reach here without `invoke` (MCP resources and prompts)
    const { rows } = await db.query<AgentRef>(
      `SELECT id, name, similarity_weight AS "similarityWeight", score_weight AS "scoreWeight",
              embedding_model AS "embeddingModel"
         FROM agents WHERE ${isUuid(ref) ? 'id = $1::uuid' : 'name = $1'}`,
      [ref],
    );
    if (rows.length === 0) throw new NotFoundError('agent', ref);
    return rows[0];
  }

  async getById(id: string): Promise<Agent> {
    if (!isUuid(id)) throw new ValidationError('id', `must be a UUID, got "${id}"`);
    return this.byId(this.db, id);
  }

  private async byId(db: Queryable, id: string): Promise<Agent> {
    const { rows } = await db.query<Agent>(`SELECT ${AGENT_COLUMNS} FROM agents a WHERE a.id = $1`, [id]);
    if (rows.length === 0) throw new NotFoundError('agent', id);
    return rows[0];
  }

  /** Every agent's id and name, by name: cheap (no example counts), for lookups and completions. */
  async names(): Promise<{ id: string; name: string }[]> {
    const { rows } = await this.db.query<{ id: string; name: string }>('SELECT id::text, name FROM agents ORDER BY name');
    return rows;
  }

  async list(): Promise<Agent[]> {
    const { rows } = await this.db.query<Agent>(`SELECT ${AGENT_COLUMNS} FROM agents a ORDER BY a.name`);
    return rows;
  }

  async update(ref: string, input: UpdateAgentInput, actor: Actor): Promise<Agent> {
    const changes = parseInput(updateAgentInput, input);
    if (changes.embeddingModel !== undefined) this.checkEmbeddingModel(changes.embeddingModel);
    return this.db.transaction(async (tx) => {
      const before = await this.get(ref, tx);
      await tx.query(
        `UPDATE agents SET description = coalesce($2, description),
                similarity_weight = coalesce($3, similarity_weight), score_weight = coalesce($4, score_weight),
                embedding_model = coalesce($5, embedding_model)
          WHERE id = $1`,
        [before.id, changes.description ?? null, changes.similarityWeight ?? null, changes.scoreWeight ?? null, changes.embeddingModel ?? null],
      );
      const after = await this.byId(tx, before.id);
      await recordAudit(tx, { actor, action: 'agent.update', entityType: 'agent', entityId: before.id, agentId: before.id, details: changes });
      return after;
    });
  }

  /** Deletes the agent with all of its examples, prompt versions and runs. */
  async delete(ref: string, actor: Actor): Promise<{ id: string; name: string; deletedExamples: number }> {
    return this.db.transaction(async (tx) => {
      const agent = await this.get(ref, tx);
      await tx.query('DELETE FROM agents WHERE id = $1', [agent.id]);
      await recordAudit(tx, {
        actor,
        action: 'agent.delete',
        entityType: 'agent',
        entityId: agent.id,
        agentId: agent.id,
        details: { name: agent.name, deletedExamples: agent.exampleCount },
      });
      return { id: agent.id, name: agent.name, deletedExamples: agent.exampleCount };
    });
  }
}
