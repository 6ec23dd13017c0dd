import type { AgentRef, AgentService } from '../agents/agents.ts';
import type { Database } from '../db/database.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import { ValidationError } from '../errors.ts';
import { hybridScore, type ScanFilter } from '../vectors/vector-table.ts';
import type { IndexStatus, Proposal, SyncResult, VectorIndex } from './vector-index.ts';

const BATCH = 1000;

/**
 * The pgvector backend: vectors in `example_vectors`, next to the examples, searched with exact SQL.
 * Every replica over the same database sees the same vectors, so nothing is kept in memory. Rewards
 * and types are read from training_examples at query time, so only a changed prompt needs work.
 */
export class PgvectorIndex implements VectorIndex {
  readonly backend = 'pgvector' as const;

  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    readonly embedder: (spec: string) => CachedEmbedder,
    readonly cacheStats: () => { hits: number; misses: number },
  ) {}

  /** Fails clearly when the database cannot hold vectors. */
  async check(): Promise<void> {
    const { rows } = await this.db.query<{ t: string | null }>(`SELECT to_regclass('example_vectors')::text AS t`);
    if (!rows[0].t) {
      throw new ValidationError('EXEMPLAR_VECTOR_BACKEND', 'is "pgvector", but this database has no pgvector extension (example_vectors is missing)');
    }
  }

  async sync(agentRef: string, opts: { forceRebuild?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<SyncResult> {
    const t0 = performance.now();
    const agent = await this.agents.resolve(agentRef);
    const model = this.embedder(agent.embeddingModel).provider.modelId;
    // Vectors of another model (or all, when forced) go; the embedding cache makes re-embedding cheap.
    const { rowCount: removed } = await this.db.query(
      `DELETE FROM example_vectors WHERE agent_id = $1 AND ($2 OR model <> $3)`,
      [agent.id, Boolean(opts.forceRebuild), model],
    );
    const upserted = await this.embedMissing(agent, undefined, opts.onProgress);
    const count = await this.count(agent.id, model);
    return { agentId: agent.id, agentName: agent.name, model, rebuilt: Boolean(opts.forceRebuild), upserted, removed, count, ms: Math.round(performance.now() - t0) };
  }

  async catchUp(agentIds?: string[]): Promise<number> {
    let applied = 0;
    for (;;) {
      const { rows: feed } = await this.db.query<{ id: number; agentId: string; exampleId: string }>(
        `SELECT id, agent_id AS "agentId", example_id AS "exampleId" FROM index_outbox
          WHERE ($1::uuid[] IS NULL OR agent_id = ANY($1::uuid[])) ORDER BY id LIMIT ${BATCH}`,
        [agentIds ?? null],
      );
      if (feed.length === 0) return applied;
      for (const agentId of new Set(feed.map((f) => f.agentId))) {
        const agent = await this.agents.resolve(agentId).catch(() => undefined);
        if (!agent) continue; // deleted: its vectors went with its examples (ON DELETE CASCADE)
        applied += await this.embedMissing(agent, feed.filter((f) => f.agentId === agentId).map((f) => f.exampleId));
      }
      await this.db.query('DELETE FROM index_outbox WHERE id = ANY($1::bigint[])', [feed.map((f) => f.id)]);
    }
  }

  async status(): Promise<IndexStatus[]> {
    const { rows } = await this.db.query<IndexStatus & { spec: string; lagSeconds: number | null }>(
      `SELECT a.id AS "agentId", a.name AS "agentName", a.embedding_model AS spec,
              (SELECT count(*)::int FROM training_examples e WHERE e.agent_id = a.id) AS examples,
              (SELECT count(*)::int FROM example_vectors v WHERE v.agent_id = a.id) AS count,
              coalesce(o.n, 0)::int AS "lagChanges",
              extract(epoch FROM now() - o.oldest)::float8 AS "lagSeconds",
              (SELECT to_char(max(v.embedded_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM example_vectors v WHERE v.agent_id = a.id) AS "lastSync"
         FROM agents a
         LEFT JOIN (SELECT agent_id, count(*) AS n, min(queued_at) AS oldest FROM index_outbox GROUP BY agent_id) o ON o.agent_id = a.id
        ORDER BY a.name`,
    );
    return rows.map(({ spec, ...r }) => ({
      ...r,
      model: this.embedder(spec).provider.modelId,
      lagSeconds: Math.max(0, Math.round((r.lagSeconds ?? 0) * 1000) / 1000),
    }));
  }

  async saveAll(): Promise<void> {
    // Nothing to save: the vectors are already in the database.
  }

  async propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts: { onlyIds?: string[]; withVectors?: boolean } = {}): Promise<Proposal[]> {
    const model = this.embedder(agent.embeddingModel).provider.modelId;
    // No process holds this index, so a search first embeds what changed since the last one.
    const pending = await this.db.query('SELECT 1 FROM index_outbox WHERE agent_id = $1 LIMIT 1', [agent.id]);
    if (pending.rows.length > 0) await this.catchUp([agent.id]);
    const { rows } = await this.db.query<{ id: string; similarity: number; reward: number; type: 'positive' | 'negative'; hash: string; vector: string | null }>(
      `SELECT e.id::text, 1 - (v.embedding <=> $2::vector) AS similarity, e.reward_score AS reward,
              e.example_type AS type, v.content_hash AS hash, CASE WHEN $8 THEN v.embedding::text END AS vector
         FROM training_examples e JOIN example_vectors v ON v.example_id = e.id AND v.model = $3
        WHERE e.agent_id = $1 AND e.reward_score >= $4 AND ($5::text[] IS NULL OR e.example_type = ANY($5::text[]))
          AND ($9::uuid[] IS NULL OR e.id = ANY($9::uuid[]))
        ORDER BY $6 * (1 - (v.embedding <=> $2::vector)) + $7 * e.reward_score DESC, e.id
        LIMIT $10`,
      [agent.id, toVector(query), model, filter.minReward, filter.types ?? null, filter.alpha, filter.beta, Boolean(opts.withVectors), opts.onlyIds ?? null, k],
    );
    return rows.map((r, i) => {
      const similarity = Number.isFinite(r.similarity) ? r.similarity : 0; // a zero vector has no direction
      return {
        row: i,
        id: r.id,
        similarity,
        reward: r.reward,
        type: r.type,
        hybrid: hybridScore(similarity, r.reward, filter.alpha, filter.beta),
        indexedHash: r.hash,
        vector: r.vector ? Float32Array.from(JSON.parse(r.vector) as number[]) : undefined,
      };
    });
  }

  /** Embeds the agent's examples (all, or the given ids) whose vector is missing or stale. */
  private async embedMissing(agent: AgentRef, ids?: string[], onProgress?: (done: number, total: number) => void): Promise<number> {
    const embedder = this.embedder(agent.embeddingModel);
    const model = embedder.provider.modelId;
    let done = 0;
    for (;;) {
      const { rows } = await this.db.query<{ id: string; prompt: string; completion: string; hash: string }>(
        `SELECT e.id::text, e.prompt, e.completion, left(e.content_hash, 16) AS hash
           FROM training_examples e LEFT JOIN example_vectors v ON v.example_id = e.id
          WHERE e.agent_id = $1 AND ($2::uuid[] IS NULL OR e.id = ANY($2::uuid[]))
            AND (v.example_id IS NULL OR v.model <> $3 OR v.content_hash <> left(e.content_hash, 16))
          LIMIT ${BATCH}`,
        [agent.id, ids ?? null, model],
      );
      if (rows.length === 0) return done;
      const vectors = await embedder.embedExamples(rows);
      await this.db.query(
        `INSERT INTO example_vectors (example_id, agent_id, model, content_hash, embedding)
         SELECT u.id, $1, $2, u.hash, u.v::vector FROM unnest($3::uuid[], $4::text[], $5::text[]) AS u(id, hash, v)
         ON CONFLICT (example_id) DO UPDATE SET model = EXCLUDED.model, content_hash = EXCLUDED.content_hash,
           embedding = EXCLUDED.embedding, embedded_at = now()`,
        [agent.id, model, rows.map((r) => r.id), rows.map((r) => r.hash), vectors.map(toVector)],
      );
      done += rows.length;
      onProgress?.(done, done + (rows.length === BATCH ? BATCH : 0));
    }
  }

  private async count(agentId: string, model: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM example_vectors WHERE agent_id = $1 AND model = $2', [agentId, model]);
    return rows[0].n;
  }
}

function toVector(v: Float32Array): string {
  return `[${Array.from(v).join(',')}]`;
}
