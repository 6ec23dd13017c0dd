import { createHash } from 'node:crypto';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import { DEFAULT_PGVECTOR_EF_SEARCH, DEFAULT_PGVECTOR_HNSW_EF_CONSTRUCTION, DEFAULT_PGVECTOR_HNSW_M } from '../config/config.ts';
import type { Database } from '../db/database.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import { ValidationError } from '../errors.ts';
import { hybridScore, type ScanFilter } from '../vectors/vector-table.ts';
import type { IndexStatus, Proposal, ProposeOptions, SyncResult, VectorIndex } from './vector-index.ts';

const BATCH = 1000;
/** HNSW's candidate list stops here (pgvector's own limit for hnsw.ef_search). */
const MAX_CANDIDATES = 1000;
/** HNSW rows re-ranked with full-precision similarity (at least k): the relaxed order and half precision can misplace a row of the top 10 (recall@10 0.922 -> 0.934 at 100k under a 1% filter). */
const RERANK = 40;
/** Graph tuples one iterative scan may visit before it gives up (a filter that passes almost nothing then scans exactly). */
const MAX_SCAN_TUPLES = 20_000;
/** pgvector's HNSW limit for halfvec (vector stops at 2,000, too few for text-embedding-3-large); the hybrid vector has 2 more. */
const MAX_HNSW_DIMS = 4000;
/** How long an agent's filter statistics serve before they are re-read (in the background). */
const STATS_TTL_MS = 30_000;

export interface PgvectorSettings {
  /** A filter that passes at most this many of the agent's rows is scanned exactly; Infinity: every search (and no HNSW index is made). */
  exactMaxRows: number;
  /** hnsw.ef_search for the first pass. */
  efSearch: number;
  /** m and ef_construction of an index made from now on (default 16 and 64; measured in the bench, see the README). */
  hnswM?: number;
  hnswEfConstruction?: number;
}

/** How one proposal was answered: `exact` scans every filtered row; `hnsw` is approximate (see propose). */
export interface PgvectorPlan {
  mode: 'exact' | 'hnsw';
  /** Why an exact scan was chosen, or why HNSW gave way to one. */
  reason: string;
  /** HNSW candidates read by the last pass (M), and how many passes it took. */
  candidates?: number;
  passes?: number;
}

/**
 * A zero vector has no direction: its cosine is NaN in SQL (which sorts above every number), 0 here
 * as in the memory index. `x` is pgvector's schema (see PgvectorIndex.ext).
 */
const similarity = (x: string) => `coalesce(nullif(1 - (v.embedding OPERATOR(${x}.<=>) $2::${x}.vector), 'NaN'::float8), 0)`;

type Row = { id: string; similarity: number; reward: number; type: 'positive' | 'negative'; hash: string; vector: string | null };

/**
 * The pgvector backend: vectors in `example_vectors`, next to the examples. Every replica over the
 * same database sees the same vectors, so nothing is kept in memory. The exact scan reads rewards
 * and types from training_examples at query time; HNSW reads the copies beside each vector
 * (migration 010, kept current from the change feed, see refreshCopies), so no candidate needs a join.
 *
 * Each embedding model has its own HNSW index, a partial expression index over the hybrid vector
 * (hybridVectorSql: the unit embedding and the reward in D + 2 half-precision dimensions, whose
 * cosine order is the α·cosine + β·reward order; the column has no fixed dimension, so models of
 * any size share it). A search whose filter passes few of the agent's rows scans them exactly; a
 * larger one asks HNSW for the hybrid top k directly (see proposeHnsw). Without
 * EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS every search is exact: similarity is exact by default, and HNSW
 * is approximate (recall@10 in the README).
 */
export class PgvectorIndex implements VectorIndex {
  readonly backend = 'pgvector' as const;

  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    readonly embedder: (spec: string) => CachedEmbedder,
    readonly cacheStats: () => { hits: number; misses: number },
    private readonly settings: PgvectorSettings = { exactMaxRows: Infinity, efSearch: DEFAULT_PGVECTOR_EF_SEARCH },
  ) {}

  /** How the last proposal was answered (the bench and tests read it; searches do not depend on it). */
  lastPlan: PgvectorPlan | undefined;
  /** Per agent: row counts by type and reward percentile, to tell how many rows a filter passes. */
  private readonly stats = new Map<string, { at: number; counts: Promise<Map<string, number[]>>; refreshing?: boolean }>();
  /** Models whose HNSW index is known to exist (an index is never dropped while the table stands). */
  private readonly hnswKnown = new Set<string>();
  private extSchema?: Promise<string>;

  /**
   * pgvector's schema, quoted, to qualify its types, operators and operator classes: it need not be
   * on the search path (Supabase keeps extensions in `extensions`, which Exemplar's path lacks).
   */
  ext(): Promise<string> {
    this.extSchema ??= this.db
      .query<{ s: string }>(`SELECT quote_ident(n.nspname) AS s FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace WHERE x.extname = 'vector'`)
      .then(({ rows }) => {
        if (!rows[0]) throw new ValidationError('EXEMPLAR_VECTOR_BACKEND', 'is "pgvector", but this database has no pgvector extension');
        return rows[0].s;
      });
    this.extSchema.catch(() => (this.extSchema = undefined));
    return this.extSchema;
  }

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
    const { rows: [h] } = await this.db.query<{ horizon: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon');
    // Vectors of another model (or all, when forced) go; the embedding cache makes re-embedding cheap.
    const { rowCount: removed } = await this.db.query(
      `DELETE FROM example_vectors WHERE agent_id = $1 AND ($2 OR model <> $3)`,
      [agent.id, Boolean(opts.forceRebuild), model],
    );
    const upserted = await this.embedMissing(agent, undefined, opts.onProgress);
    await this.advance(agent.id, h.horizon); // the whole table is embedded: the feed below the horizon is too
    this.forgetStats(agent.id);
    const count = await this.count(agent.id, model);
    return { agentId: agent.id, agentName: agent.name, model, rebuilt: Boolean(opts.forceRebuild), upserted, removed, count, ms: Math.round(performance.now() - t0) };
  }

  /**
   * Embeds what the shared change feed says changed. The vectors are shared by every process, so
   * their feed position is too: one per agent in example_vectors_feed (every feed row with a txid
   * below it is in example_vectors). Nothing is deleted from the feed: memory-backend processes on
   * the same database read it from their own positions.
   */
  /** Catch-ups in flight per agent: concurrent searches share one instead of each embedding the same rows. */
  private readonly catchingUp = new Map<string, Promise<number>>();

  async catchUp(agentIds?: string[]): Promise<number> {
    const ids =
      agentIds ??
      (
        await this.db.query<{ id: string }>(
          `SELECT a.id::text FROM agents a LEFT JOIN example_vectors_feed f ON f.agent_id = a.id
            WHERE f.position IS NULL OR EXISTS (SELECT 1 FROM index_outbox o WHERE o.agent_id = a.id AND o.txid >= f.position)
               OR EXISTS (SELECT 1 FROM index_feed_pruned p WHERE p.agent_id = a.id AND p.pruned_through >= f.position)`,
        )
      ).rows.map((r) => r.id);
    let applied = 0;
    for (const id of ids) {
      let pending = this.catchingUp.get(id);
      if (!pending) {
        pending = this.catchUpAgent(id).finally(() => this.catchingUp.delete(id));
        this.catchingUp.set(id, pending);
      }
      applied += await pending;
    }
    return applied;
  }

  private async catchUpAgent(agentId: string): Promise<number> {
    const agent = await this.agents.resolve(agentId).catch(() => undefined);
    if (!agent) return 0; // deleted: its vectors went with its examples (ON DELETE CASCADE)
    // The horizon first: every feed row below it is final, so once they are applied the position moves there.
    const { rows: [s] } = await this.db.query<{ horizon: string; position: string | null }>(
      `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon,
              (SELECT position::text FROM example_vectors_feed WHERE agent_id = $1) AS position`,
      [agentId],
    );
    let applied = 0;
    if (s.position !== null) {
      for (let after = 0; ; ) {
        const { rows } = await this.db.query<{ id: number; exampleId: string }>(
          `SELECT id, example_id AS "exampleId" FROM index_outbox
            WHERE agent_id = $1 AND txid >= $2::xid8 AND id > $3 ORDER BY id LIMIT ${BATCH}`,
          [agentId, s.position, after],
        );
        if (rows.length === 0) break;
        const ids = [...new Set(rows.map((r) => r.exampleId))];
        applied += await this.embedMissing(agent, ids);
        await this.refreshCopies(ids); // reward and type updates are feed rows too
        after = rows[rows.length - 1].id;
      }
    }
    // The agent's prune mark after its rows were read: a prune that fell before or during the
    // reads shows here, and then the table is compared instead. Other agents' prunes do not count.
    const { rows: marks } = await this.db.query<{ pruned: string }>(
      'SELECT pruned_through::text AS pruned FROM index_feed_pruned WHERE agent_id = $1',
      [agentId],
    );
    if (s.position === null || (marks.length > 0 && BigInt(marks[0].pruned) >= BigInt(s.position))) {
      // Never caught up, or the feed has lost rows this position needed.
      applied += await this.embedMissing(agent);
      await this.refreshCopies(undefined, agentId);
    }
    await this.advance(agentId, s.horizon);
    return applied;
  }

  /**
   * Brings the copies of reward_score, example_type and agent_id beside each vector (migration 010)
   * up to date with training_examples: for the given examples (a feed batch: every reward or type
   * update is a feed row), or for a whole agent when it reconciles. Only rows that differ are written.
   */
  private async refreshCopies(ids: string[] | undefined, agentId?: string): Promise<void> {
    await this.db.query(
      `UPDATE example_vectors v SET reward_score = e.reward_score, example_type = e.example_type, agent_id = e.agent_id
         FROM training_examples e
        WHERE e.id = v.example_id AND ($1::uuid[] IS NULL OR v.example_id = ANY($1::uuid[])) AND ($2::uuid IS NULL OR v.agent_id = $2)
          AND (v.reward_score <> e.reward_score OR v.example_type <> e.example_type OR v.agent_id <> e.agent_id)`,
      [ids ?? null, agentId ?? null],
    );
  }

  private async advance(agentId: string, horizon: string): Promise<void> {
    await this.db.query(
      `INSERT INTO example_vectors_feed (agent_id, position) VALUES ($1, $2::xid8)
       ON CONFLICT (agent_id) DO UPDATE SET position = greatest(example_vectors_feed.position, EXCLUDED.position)`,
      [agentId, horizon],
    );
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
         LEFT JOIN example_vectors_feed f ON f.agent_id = a.id
         -- Lag: changes past the position whose vector is still missing or stale. Rows above the
         -- position may be applied already (a transaction open anywhere holds the horizon back).
         LEFT JOIN LATERAL (
           SELECT count(DISTINCT o.example_id) AS n, min(o.queued_at) AS oldest
             FROM index_outbox o JOIN training_examples e ON e.id = o.example_id
             LEFT JOIN example_vectors v ON v.example_id = e.id
            WHERE o.agent_id = a.id AND o.txid >= coalesce(f.position, '0'::xid8)
              AND (v.example_id IS NULL OR v.content_hash <> left(e.content_hash, 16))
         ) o ON true
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

  async propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts: ProposeOptions = {}): Promise<Proposal[]> {
    const model = this.embedder(agent.embeddingModel).provider.modelId;
    // No process holds this index, so a search first embeds what changed since the last one, and
    // re-embeds an agent whose model changed (its vectors are all of another model), as the memory
    // index rebuilds. Two ranges, not <>, so each check is one probe of (agent_id, model).
    const { rows: [state] } = await this.db.query<{ pending: boolean; otherModel: boolean }>(
      `SELECT coalesce((SELECT EXISTS (SELECT 1 FROM index_outbox o WHERE o.agent_id = $1 AND o.txid >= f.position)
                            OR EXISTS (SELECT 1 FROM index_feed_pruned p WHERE p.agent_id = $1 AND p.pruned_through >= f.position)
                          FROM example_vectors_feed f WHERE f.agent_id = $1), true) AS pending,
              EXISTS (SELECT 1 FROM example_vectors WHERE agent_id = $1 AND model < $2)
           OR EXISTS (SELECT 1 FROM example_vectors WHERE agent_id = $1 AND model > $2) AS "otherModel"`,
      [agent.id, model],
    );
    if (state.otherModel) await this.sync(agent.id);
    else if (state.pending) await this.catchUp([agent.id]);
    const rows = await this.choose(agent, model, query, k, filter, opts);
    return rows.map((r, i) => ({
      row: i,
      id: r.id,
      similarity: r.similarity,
      reward: r.reward,
      type: r.type,
      hybrid: hybridScore(r.similarity, r.reward, filter.alpha, filter.beta),
      indexedHash: r.hash,
      vector: r.vector ? Float32Array.from(JSON.parse(r.vector) as number[]) : undefined,
    }));
  }

  private async choose(agent: AgentRef, model: string, query: Float32Array, k: number, filter: ScanFilter, opts: ProposeOptions): Promise<Row[]> {
    const exact = async (reason: string) => {
      this.lastPlan = { mode: 'exact', reason };
      opts.onPlan?.({ exact: true, plan: `exact scan (pgvector): ${reason}` });
      return this.proposeExact(agent, model, query, k, filter, opts);
    };
    if (!Number.isFinite(this.settings.exactMaxRows)) return exact('HNSW is off (EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS is unset)');
    if (opts.onlyIds) return exact('the rows are given');
    if (filter.alpha <= 0) return exact('similarity has no weight');
    if (!query.some((x) => x !== 0)) return exact('the query has no direction');
    const passing = await this.filteredRows(agent.id, filter);
    if (passing <= this.settings.exactMaxRows) return exact(`the filter passes about ${passing} rows`);
    if (!(await this.hasHnsw(model))) return exact('the model has no HNSW index yet');
    return this.proposeHnsw(agent, model, query, k, filter, opts, exact);
  }

  /** Exact: every row that passes the filter, ranked by the hybrid score in SQL. */
  private async proposeExact(agent: AgentRef, model: string, query: Float32Array, k: number, filter: ScanFilter, opts: { onlyIds?: string[]; withVectors?: boolean }): Promise<Row[]> {
    const SIMILARITY = similarity(await this.ext());
    const { rows } = await this.db.query<Row>(
      `SELECT e.id::text, ${SIMILARITY} AS similarity, e.reward_score AS reward,
              e.example_type AS type, v.content_hash AS hash, CASE WHEN $8 THEN v.embedding::text END AS vector
         FROM training_examples e JOIN example_vectors v ON v.example_id = e.id AND v.model = $3
        WHERE e.agent_id = $1 AND e.reward_score >= $4 AND ($5::text[] IS NULL OR e.example_type = ANY($5::text[]))
          AND ($9::uuid[] IS NULL OR e.id = ANY($9::uuid[]))
        ORDER BY $6 * ${SIMILARITY} + $7 * e.reward_score DESC, e.id
        LIMIT $10`,
      [agent.id, toVector(query), model, filter.minReward, filter.types ?? null, filter.alpha, filter.beta, Boolean(opts.withVectors), opts.onlyIds ?? null, k],
    );
    return rows;
  }

  /**
   * HNSW over the hybrid vector (see hybridVectorSql): the index orders rows by α·cosine + β·reward
   * itself, so its first rows that pass the filter are the hybrid top k, and no candidate list by
   * similarity alone has to be widened until it can be certified (at 1M rows that took up to 1,000
   * candidates, and a join to training_examples for each). pgvector 0.8's iterative scan keeps
   * walking the graph until enough rows pass the filter. The first RERANK rows are re-ranked with
   * full-precision similarity (the index holds half precision).
   *
   * The answer is approximate: HNSW may miss a row of the true top k (recall@10 is measured in
   * `npm run bench`), and lastPlan says so. When the walk ends (hnsw.max_scan_tuples) with fewer
   * than k rows, the exact scan answers. EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS unset keeps every search exact.
   */
  private async proposeHnsw(
    agent: AgentRef, model: string, query: Float32Array, k: number, filter: ScanFilter, opts: ProposeOptions,
    exact: (reason: string) => Promise<Row[]>,
  ): Promise<Row[]> {
    const dims = query.length;
    const x = await this.ext();
    const limit = Math.min(Math.max(k, RERANK), MAX_CANDIDATES);
    const efSearch = Math.min(Math.max(limit, this.settings.efSearch), MAX_CANDIDATES);
    const rows = await this.db.transaction(async (tx) => {
      // relaxed_order: the rows are re-ranked anyway; max_scan_tuples bounds a filter that passes almost nothing.
      await tx.query(
        `SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true),
                set_config('hnsw.max_scan_tuples', $2, true)`,
        [String(efSearch), String(MAX_SCAN_TUPLES)],
      );
      // The model is a literal, so the planner can match the model's partial index.
      const { rows } = await tx.query<Row>(
        `SELECT v.example_id::text AS id, coalesce(nullif(1 - (v.embedding OPERATOR(${x}.<=>) $1::${x}.vector), 'NaN'::float8), 0) AS similarity,
                v.reward_score AS reward, v.example_type AS type, v.content_hash AS hash, NULL AS vector
           FROM example_vectors v
          WHERE v.model = ${literal(model)} AND v.agent_id = $2
            AND v.reward_score >= $3 AND ($4::text[] IS NULL OR v.example_type = ANY($4::text[]))
          ORDER BY ${hybridVectorSql(dims, x)} OPERATOR(${x}.<=>) $5::${x}.halfvec(${dims + 2})
          LIMIT ${limit}`,
        [toVector(query), agent.id, filter.minReward, filter.types ?? null, toVector(hybridQuery(query, filter.alpha, filter.beta))],
      );
      return rows;
    });
    if (rows.length < k) return exact(`HNSW found ${rows.length} of ${k} rows`);
    this.lastPlan = { mode: 'hnsw', reason: 'approximate: HNSW over the hybrid vector', candidates: rows.length, passes: 1 };
    opts.onPlan?.({ exact: false, plan: `approximate (HNSW): pgvector, ef_search ${efSearch}` });
    const top = rows
      .sort((x, y) => hybridScore(y.similarity, y.reward, filter.alpha, filter.beta) - hybridScore(x.similarity, x.reward, filter.alpha, filter.beta) || cmp(x.id, y.id))
      .slice(0, k);
    if (opts.withVectors) await this.attachVectors(top);
    return top;
  }

  private async attachVectors(rows: Row[]): Promise<void> {
    const { rows: vs } = await this.db.query<{ id: string; vector: string }>(
      'SELECT example_id::text AS id, embedding::text AS vector FROM example_vectors WHERE example_id = ANY($1::uuid[])',
      [rows.map((r) => r.id)],
    );
    const byId = new Map(vs.map((v) => [v.id, v.vector]));
    for (const r of rows) r.vector = byId.get(r.id) ?? null;
  }

  /** About how many of the agent's rows pass the filter, from per-agent counts kept a while. */
  private async filteredRows(agentId: string, filter: ScanFilter): Promise<number> {
    let entry = this.stats.get(agentId);
    if (!entry) {
      entry = { at: Date.now(), counts: this.readCounts(agentId) };
      this.stats.set(agentId, entry);
      entry.counts.catch(() => this.stats.delete(agentId));
    } else if (Date.now() - entry.at > STATS_TTL_MS && !entry.refreshing) {
      // Stale counts still choose well (they steer speed, not correctness): refresh behind the search.
      const e = entry;
      e.refreshing = true;
      const next = this.readCounts(agentId);
      next.then(() => this.stats.set(agentId, { at: Date.now(), counts: next }), () => { e.refreshing = false; });
    }
    const counts = await entry.counts;
    const from = Math.max(0, Math.floor(filter.minReward * 100));
    let n = 0;
    for (const type of filter.types ?? ['positive', 'negative']) {
      const byPercent = counts.get(type);
      if (byPercent) for (let p = from; p <= 100; p++) n += byPercent[p];
    }
    return n;
  }

  private async readCounts(agentId: string): Promise<Map<string, number[]>> {
    const { rows } = await this.db.query<{ type: string; p: number; n: number }>(
      `SELECT example_type AS type, floor(reward_score * 100)::int AS p, count(*)::int AS n
         FROM training_examples WHERE agent_id = $1 GROUP BY 1, 2`,
      [agentId],
    );
    const counts = new Map<string, number[]>();
    for (const r of rows) {
      const byPercent = counts.get(r.type) ?? new Array<number>(101).fill(0);
      byPercent[Math.min(100, Math.max(0, r.p))] += r.n;
      counts.set(r.type, byPercent);
    }
    return counts;
  }

  /** Forgets an agent's filter statistics (after a sync, and in tests that change the data under them). */
  forgetStats(agentId?: string): void {
    if (agentId) this.stats.delete(agentId);
    else this.stats.clear();
  }

  private async hasHnsw(model: string): Promise<boolean> {
    if (this.hnswKnown.has(model)) return true;
    const { rows } = await this.db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [hnswName(model)]);
    if (rows[0].t) this.hnswKnown.add(model);
    return Boolean(rows[0].t);
  }

  /**
   * Creates the model's HNSW index over the hybrid vector (m and ef_construction from the settings)
   * if it is missing. It is made when the model's first vectors are written, so
   * it grows row by row; a table that already holds many vectors of the model (an upgrade) pays the
   * whole build once, with writes to example_vectors waiting meanwhile. `maintenanceWorkMem` lets a
   * bulk load build it in memory (pgvector's advice).
   */
  async ensureHnsw(model: string, dims: number, opts: { maintenanceWorkMem?: string } = {}): Promise<void> {
    // pgvector indexes halfvec up to 4,000 dimensions; a larger model is always scanned exactly.
    if (this.hnswKnown.has(model) || dims + 2 > MAX_HNSW_DIMS) return;
    const name = hnswName(model);
    const x = await this.ext();
    await this.db.transaction(async (tx) => {
      // Replicas writing a new model's first vectors at once build it once. The key names the schema:
      // a long build in one Exemplar schema must not hold up writes in another of the same database.
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.' || $1))`, [name]);
      if (opts.maintenanceWorkMem) await tx.query(`SELECT set_config('maintenance_work_mem', $1, true)`, [opts.maintenanceWorkMem]);
      await tx.exec(
        `CREATE INDEX IF NOT EXISTS ${name} ON example_vectors USING hnsw ((${hybridVectorSql(dims, x)}) ${x}.halfvec_cosine_ops)
          WITH (m = ${Math.trunc(this.settings.hnswM ?? DEFAULT_PGVECTOR_HNSW_M)}, ef_construction = ${Math.trunc(this.settings.hnswEfConstruction ?? DEFAULT_PGVECTOR_HNSW_EF_CONSTRUCTION)})
          WHERE model = ${literal(model)}`,
      );
    });
    this.hnswKnown.add(model);
  }

  /** Embeds the agent's examples (all, or the given ids) whose vector is missing or stale. */
  private async embedMissing(agent: AgentRef, ids?: string[], onProgress?: (done: number, total: number) => void): Promise<number> {
    const embedder = this.embedder(agent.embeddingModel);
    const model = embedder.provider.modelId;
    const x = await this.ext();
    let done = 0;
    for (;;) {
      const { rows } = await this.db.query<{ id: string; prompt: string; completion: string; hash: string }>(
        `SELECT e.id::text, e.prompt, e.completion, left(e.content_hash, 16) AS hash
           FROM training_examples e LEFT JOIN example_vectors v ON v.example_id = e.id
          WHERE e.agent_id = $1 AND ($2::uuid[] IS NULL OR e.id = ANY($2::uuid[]))
            AND (v.example_id IS NULL OR v.model <> $3 OR v.content_hash <> left(e.content_hash, 16))
          ORDER BY e.id
          LIMIT ${BATCH}`,
        [agent.id, ids ?? null, model],
      );
      if (rows.length === 0) return done;
      const vectors = await embedder.embedExamples(rows);
      // The index costs every write; it is made only where searches may use it.
      if (Number.isFinite(this.settings.exactMaxRows)) await this.ensureHnsw(model, embedder.provider.dimensions);
      // Rows in id order: two processes upserting overlapping batches then lock them in the same
      // order, where any other order could deadlock (32 concurrent searches after writes did).
      await this.db.query(
        `INSERT INTO example_vectors (example_id, agent_id, model, content_hash, embedding, reward_score, example_type)
         SELECT u.id, e.agent_id, $2, u.hash, u.v::${x}.vector, e.reward_score, e.example_type
           FROM unnest($3::uuid[], $4::text[], $5::text[]) AS u(id, hash, v) JOIN training_examples e ON e.id = u.id AND e.agent_id = $1
          ORDER BY u.id
         ON CONFLICT (example_id) DO UPDATE SET agent_id = EXCLUDED.agent_id, model = EXCLUDED.model, content_hash = EXCLUDED.content_hash,
           embedding = EXCLUDED.embedding, reward_score = EXCLUDED.reward_score, example_type = EXCLUDED.example_type, embedded_at = now()`,
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

/**
 * The hybrid vector of a row, which each model's HNSW index holds: [e/|e|, reward, sqrt(2 - |e/|e||² -
 * reward²)] in half precision, D + 2 dimensions. Every row's has norm √2 (a zero embedding's too), and
 * the query's is [α·q/|q|, β, 0] (hybridQuery), so their cosine is (α·cosine + β·reward) / (√2·|query|):
 * the cosine order of the index is the hybrid order, for any α and β (a negative β too), and the
 * graph is built over a true metric. The index expression and the ORDER BY of a search must match.
 * `x` is pgvector's schema (see PgvectorIndex.ext).
 */
export function hybridVectorSql(dims: number, x = 'public'): string {
  const unit = `${x}.l2_normalize(embedding)`;
  return `(${unit} OPERATOR(${x}.||) ARRAY[reward_score, sqrt(greatest(0, 2 - ${x}.vector_norm(${unit})^2 - reward_score^2))]::${x}.vector)::${x}.halfvec(${dims + 2})`;
}

/** The query's side of hybridVectorSql: [α·q/|q|, β, 0]. */
export function hybridQuery(query: Float32Array, alpha: number, beta: number): Float32Array {
  let norm = 0;
  for (const x of query) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  const out = new Float32Array(query.length + 2);
  for (let i = 0; i < query.length; i++) out[i] = (alpha * query[i]) / norm;
  out[query.length] = beta;
  return out;
}

/** One HNSW index per model; the name is the model's hash, since model ids hold any characters. */
export function hnswName(model: string): string {
  return `example_vectors_hybrid_${createHash('sha256').update(model).digest('hex').slice(0, 16)}`;
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
