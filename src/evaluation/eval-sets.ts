import { createHash } from 'node:crypto';
import type { AgentService } from '../agents/agents.ts';
import { recordAudit, type Actor } from '../audit/audit.ts';
import type { Database, Queryable } from '../db/database.ts';
import { NotFoundError, ValidationError } from '../errors.ts';

/** Largest eval set: every member is answered by a model on each evaluation run. */
export const MAX_EVAL_SET_SIZE = 2000;
/** Without --size: a fifth of the agent's positive examples, at most this many. */
const DEFAULT_SIZE = 50;

export interface EvalSetMember {
  exampleId: string;
  /** item: asked, its completion the reference; contrast: a negative answer to the same prompt. */
  role: 'item' | 'contrast';
  /** The content hash the example had when the set was pinned. */
  contentHash: string;
  /** Whether the example is gone, or its prompt or completion changed, since then. */
  changed: boolean;
}

export interface EvalSet {
  id: string;
  agent: string;
  version: number;
  seed: number;
  requestedSize: number;
  /** sha256 over the members' ids and content hashes, in id order. */
  contentHash: string;
  items: number;
  contrasts: number;
  /** Members edited or deleted since the set was pinned; results on a changed set say so. */
  changed: number;
  createdBy: string;
  createdAt: Date;
  members: EvalSetMember[];
}

export interface CreateEvalSetOptions {
  size?: number;
  seed?: number;
  actor: Actor;
}

/**
 * Evaluation sets (issue 15): a seeded, pinned selection of an agent's positive examples, with the
 * negative examples of the same prompts as contrast. A new selection is a new version; asking for
 * the selection the latest version already holds returns it unchanged.
 */
export class EvalSetService {
  constructor(
    private readonly db: Database,
    private readonly agents: Pick<AgentService, 'resolve'>,
  ) {}

  async create(agentRef: string, options: CreateEvalSetOptions): Promise<EvalSet & { created: boolean }> {
    const agent = await this.agents.resolve(agentRef);
    const seed = options.seed ?? 1;
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) throw new ValidationError('seed', `must be an integer from 0 to ${2 ** 31 - 1} (got ${seed})`);
    if (options.size !== undefined && (!Number.isInteger(options.size) || options.size < 1 || options.size > MAX_EVAL_SET_SIZE)) {
      throw new ValidationError('size', `must be an integer from 1 to ${MAX_EVAL_SET_SIZE} (got ${options.size})`);
    }
    return this.db.transaction(async (tx) => {
      // One creation at a time per agent, so two callers cannot both take the next version.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('exemplar.eval_set.' || $1::text))`, [agent.id]);
      const { rows: positives } = await tx.query<{ id: string; prompt: string; contentHash: string }>(
        `SELECT id::text, prompt, content_hash AS "contentHash" FROM training_examples
          WHERE agent_id = $1 AND example_type = 'positive' ORDER BY id`,
        [agent.id],
      );
      if (positives.length === 0) {
        throw new ValidationError('agent', `agent "${agent.name}" has no positive examples to evaluate on: an eval set asks their prompts and compares answers with their completions`);
      }
      const size = options.size ?? Math.max(1, Math.min(DEFAULT_SIZE, Math.floor(positives.length / 5)));
      if (size > positives.length) {
        throw new ValidationError('size', `agent "${agent.name}" has ${positives.length} positive examples, fewer than the ${size} asked for`);
      }
      const items = seededSample(positives, size, seed);
      const prompts = items.map((i) => normalizePrompt(i.prompt));
      const { rows: contrasts } = await tx.query<{ id: string; contentHash: string }>(
        `SELECT id::text, content_hash AS "contentHash" FROM training_examples
          WHERE agent_id = $1 AND example_type = 'negative'
            AND lower(btrim(regexp_replace(prompt, '\\s+', ' ', 'g'))) = ANY ($2::text[])
          ORDER BY id`,
        [agent.id, prompts],
      );
      const members = [
        ...items.map((i) => ({ exampleId: i.id, role: 'item' as const, contentHash: i.contentHash })),
        ...contrasts.map((c) => ({ exampleId: c.id, role: 'contrast' as const, contentHash: c.contentHash })),
      ];
      const contentHash = hashMembers(members);
      const { rows: latest } = await tx.query<{ id: string; contentHash: string }>(
        `SELECT id::text, content_hash AS "contentHash" FROM eval_sets WHERE agent_id = $1 ORDER BY version DESC LIMIT 1`,
        [agent.id],
      );
      if (latest[0]?.contentHash === contentHash) return { ...(await this.read(tx, agent.name, latest[0].id)), created: false };
      const { rows } = await tx.query<{ id: string; version: number }>(
        `INSERT INTO eval_sets (agent_id, version, seed, requested_size, content_hash, created_by)
         VALUES ($1, coalesce((SELECT max(version) FROM eval_sets WHERE agent_id = $1), 0) + 1, $2, $3, $4, $5)
         RETURNING id::text, version`,
        [agent.id, seed, size, contentHash, options.actor],
      );
      const { id, version } = rows[0];
      await tx.query(
        `INSERT INTO eval_set_examples (eval_set_id, example_id, role, content_hash)
         SELECT $1, m.example_id, m.role, m.content_hash
           FROM unnest($2::uuid[], $3::text[], $4::text[]) AS m(example_id, role, content_hash)`,
        [id, members.map((m) => m.exampleId), members.map((m) => m.role), members.map((m) => m.contentHash)],
      );
      await recordAudit(tx, {
        actor: options.actor,
        action: 'eval_set.create',
        entityType: 'eval_set',
        entityId: id,
        agentId: agent.id,
        details: { version, seed, size, items: items.length, contrasts: contrasts.length, contentHash },
      });
      return { ...(await this.read(tx, agent.name, id)), created: true };
    });
  }

  /** A version of the agent's eval set, or the latest one. */
  async get(agentRef: string, version?: number): Promise<EvalSet> {
    const agent = await this.agents.resolve(agentRef);
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id::text FROM eval_sets WHERE agent_id = $1 AND ($2::int IS NULL OR version = $2) ORDER BY version DESC LIMIT 1`,
      [agent.id, version ?? null],
    );
    if (!rows[0]) throw new NotFoundError('eval set', version === undefined ? `of agent "${agent.name}"` : `version ${version} of agent "${agent.name}"`);
    return this.read(this.db, agent.name, rows[0].id);
  }

  private async read(db: Queryable, agentName: string, id: string): Promise<EvalSet> {
    const { rows: sets } = await db.query<{ version: number; seed: number; requestedSize: number; contentHash: string; createdBy: string; createdAt: Date }>(
      `SELECT version, seed, requested_size AS "requestedSize", content_hash AS "contentHash", created_by AS "createdBy", created_at AS "createdAt"
         FROM eval_sets WHERE id = $1`,
      [id],
    );
    const { rows: members } = await db.query<EvalSetMember>(
      `SELECT m.example_id::text AS "exampleId", m.role, m.content_hash AS "contentHash",
              (e.id IS NULL OR e.content_hash <> m.content_hash) AS changed
         FROM eval_set_examples m LEFT JOIN training_examples e ON e.id = m.example_id
        WHERE m.eval_set_id = $1 ORDER BY m.role DESC, m.example_id`,
      [id],
    );
    return {
      id,
      agent: agentName,
      ...sets[0],
      items: members.filter((m) => m.role === 'item').length,
      contrasts: members.filter((m) => m.role === 'contrast').length,
      changed: members.filter((m) => m.changed).length,
      members,
    };
  }
}

/** Prompts compare trimmed, lower-cased, with runs of whitespace as one space (as the SQL above). */
export function normalizePrompt(prompt: string): string {
  return prompt.replace(/\s+/g, ' ').trim().toLowerCase();
}

/**
 * `size` of `rows`: those whose sha256(seed, id) comes first. The same seed gives the same set, and
 * unlike a seeded shuffle of the rows in id order, adding or deleting one example changes at most
 * one member, so a new version holds nearly the same examples (and the held-out set, which keeps
 * every version's members, does not grow by a whole new sample).
 */
function seededSample<T extends { id: string }>(rows: readonly T[], size: number, seed: number): T[] {
  const rank = (id: string) => createHash('sha256').update(`${seed}:${id}`).digest('hex');
  return rows
    .map((row) => ({ row, key: rank(row.id) }))
    .sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
    .slice(0, size)
    .map((x) => x.row);
}

function hashMembers(members: { exampleId: string; role: string; contentHash: string }[]): string {
  const lines = members.map((m) => `${m.exampleId} ${m.role} ${m.contentHash}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
