import fs from 'node:fs';
import path from 'node:path';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import type { Database } from '../db/database.ts';
import { CachedEmbedder } from '../embeddings/cache.ts';
import { createEmbedding, type EmbeddingConfig } from '../embeddings/providers.ts';
import { FileVectorStore, type IndexManifest } from '../vectors/file-store.ts';
import { ChangeFeed, type FeedOptions, type FeedPosition, type FeedRow } from './feed.ts';
import { DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS, DEFAULT_FEED_RETENTION_HOURS } from '../config/config.ts';
import { VectorTable, type RowType, type ScanFilter } from '../vectors/vector-table.ts';
import type { FeedMembership, IndexStatus, Proposal, ProposeOptions, SyncResult, VectorIndex } from './vector-index.ts';

/** Rows read and embedded per step of a rebuild or catch-up. */
const BATCH = 2000;
/** Save a changed index to disk at most this often while changes keep coming. */
const SAVE_EVERY_MS = 30_000;
/** In an agent's index folder: changes were applied in memory and not saved (see markUnsaved). */
const UNSAVED_MARKER = 'unsaved';

interface LoadedIndex {
  agentId: string;
  /** The provider's modelId; never mixed. */
  model: string;
  table: VectorTable;
  dirty: boolean;
  savedAt: number;
  syncedAt: Date;
  /** Highest outbox id applied, recorded in the manifest (for people; positions are `horizon`). */
  watermark: number;
  /**
   * This index's position in the feed: every change with txid below it is in the table (read
   * from the database after the horizon was taken, or applied from the feed).
   */
  horizon: bigint;
  /** Feed rows at or above the horizon already applied (outbox id to txid), so a re-read skips them. */
  applied: Map<number, bigint>;
}

interface ExampleRow {
  id: string;
  prompt: string;
  completion: string;
  reward: number;
  type: RowType;
  hash: string;
}

/**
 * Keeps one in-memory VectorTable per agent in step with PostgreSQL.
 *
 * The database is the source of truth and `index_outbox` is the change feed, shared by every
 * process: nobody deletes what it applied (see ChangeFeed). Loading an index reads the saved file,
 * then reconciles it with the table (so a stale or half-synced file always converges, and a process
 * that was away longer than the feed's retention loses nothing); catching up applies the feed's
 * changes after each index's own position. Files are saved atomically now and then, and on `sync`
 * and shutdown.
 */
export class IndexService implements VectorIndex {
  readonly backend = 'memory' as const;
  readonly store: FileVectorStore;
  private readonly loaded = new Map<string, LoadedIndex>();
  private readonly embedders = new Map<string, CachedEmbedder>();
  /** One operation at a time per agent. */
  private readonly locks = new Map<string, Promise<unknown>>();
  readonly feed: ChangeFeed;
  /**
   * Where this process stands for agents it holds no index of: changes below it need no loading
   * (a later load reconciles with the table). Set by the first unscoped catch-up.
   */
  private position?: bigint;
  /** This process's row in index_consumers while it is a long-running consumer. */
  private consumerId?: string;

  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly embeddingConfig: EmbeddingConfig,
    dataDir: string,
    feedOptions: FeedOptions = {
      retentionMs: DEFAULT_FEED_RETENTION_HOURS * 3_600_000,
      consumerTimeoutMs: DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS * 1000,
    },
  ) {
    this.store = new FileVectorStore(path.join(dataDir, 'index'));
    this.feed = new ChangeFeed(db, feedOptions);
  }

  /** The embedder an agent's model spec names, with the PostgreSQL cache in front. */
  embedder(spec: string): CachedEmbedder {
    let e = this.embedders.get(spec);
    if (!e) {
      e = new CachedEmbedder(createEmbedding(spec, this.embeddingConfig), this.db);
      this.embedders.set(spec, e);
    }
    return e;
  }

  /** Cache hits and misses over all providers, for metrics. */
  cacheStats(): { hits: number; misses: number } {
    let hits = 0;
    let misses = 0;
    for (const e of this.embedders.values()) {
      hits += e.hits;
      misses += e.misses;
    }
    return { hits, misses };
  }

  /**
   * The seed's sync_training_data_to_vector_store: brings an agent's index up to date and saves it.
   * `forceRebuild` builds a fresh index from the table and swaps it in.
   */
  async sync(agentRef: string, opts: { forceRebuild?: boolean; onProgress?: (done: number, total: number) => void } = {}): Promise<SyncResult> {
    const agent = await this.agents.resolve(agentRef);
    const t0 = performance.now();
    const model = this.embedder(agent.embeddingModel).provider.modelId;
    const loaded = await this.exclusive(agent.id, async () => {
      let rebuilt = false;
      let upserted = 0;
      let removed = 0;
      let index = this.loaded.get(agent.id);
      if (opts.forceRebuild || !index || index.model !== model) {
        const fresh = opts.forceRebuild ? undefined : this.loadFromDisk(agent.id, model);
        if (fresh) {
          index = fresh;
          ({ upserted, removed } = await this.reconcile(index, agent.embeddingModel, opts.onProgress));
        } else {
          index = await this.rebuild(agent.id, agent.embeddingModel, opts.onProgress);
          upserted = index.table.size;
          rebuilt = true;
        }
        this.loaded.set(agent.id, index);
      }
      return { rebuilt, upserted, removed };
    });
    // Then whatever the feed holds past the index's position, and save.
    const caught = await this.tick([agent.id]);
    return this.exclusive(agent.id, async () => {
      const index = this.loaded.get(agent.id);
      if (!index) throw new Error(`the index of agent ${agent.name} was dropped while it synced (the agent was deleted)`);
      this.save(index);
      return {
        agentId: agent.id,
        agentName: agent.name,
        model,
        rebuilt: loaded.rebuilt,
        upserted: loaded.upserted + caught.upserted,
        removed: loaded.removed + caught.removed,
        count: index.table.size,
        ms: Math.round(performance.now() - t0),
      };
    });
  }

  /** The agent's index, loaded (and reconciled) or built on first use. */
  async table(agentRef: string | AgentRef): Promise<{ table: VectorTable; embedder: CachedEmbedder }> {
    const agent = typeof agentRef === 'string' ? await this.agents.resolve(agentRef) : agentRef;
    const agentId = agent.id;
    const embedder = this.embedder(agent.embeddingModel);
    const current = this.loaded.get(agentId);
    if (current && current.model === embedder.provider.modelId) return { table: current.table, embedder };
    await this.exclusive(agentId, async () => {
      const again = this.loaded.get(agentId);
      if (again && again.model === embedder.provider.modelId) return;
      const index = this.loadFromDisk(agentId, embedder.provider.modelId);
      if (index) {
        await this.reconcile(index, agent.embeddingModel);
        this.loaded.set(agentId, index);
      } else {
        const built = await this.rebuild(agentId, agent.embeddingModel);
        this.save(built);
        this.loaded.set(agentId, built);
      }
    });
    return { table: this.loaded.get(agentId)!.table, embedder };
  }

  async propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts: ProposeOptions = {}): Promise<Proposal[]> {
    const { table } = await this.table(agent);
    opts.onPlan?.({ exact: true, plan: 'exact (memory index)' });
    const scored = opts.onlyIds
      ? table.scoreRows(query, opts.onlyIds.map((id) => table.rowOf(id)).filter((r): r is number => r !== undefined), filter).slice(0, k)
      : table.search(query, k, filter);
    // Snapshot what the index says now: sync may change the table while the caller awaits the database.
    return scored.map((r) => ({ ...r, indexedHash: table.hashOf(r.id), vector: opts.withVectors ? table.vector(r.row) : undefined }));
  }

  /**
   * Applies the feed's changes past each index's position, for the given agents (loading their
   * indexes first) or for every agent with changes (loading the index of an agent that changed, so
   * the first search after it is quick). Returns the number of examples written or removed.
   */
  async catchUp(agentIds?: string[]): Promise<number> {
    const r = await this.tick(agentIds);
    return r.upserted + r.removed;
  }

  /**
   * Where this process stands in the feed, for its heartbeat: the lowest position of its indexes
   * (and of agents it holds none of), and the rows above it that it applied already.
   */
  feedPosition(): FeedPosition | undefined {
    let position = this.position;
    for (const index of this.loaded.values()) if (position === undefined || index.horizon < position) position = index.horizon;
    if (position === undefined) return undefined;
    const applied = new Set<number>();
    for (const index of this.loaded.values()) for (const [id, txid] of index.applied) if (txid >= position) applied.add(id);
    return { position, applied: [...applied] };
  }

  /**
   * Registers this process as a long-running consumer of the feed, so pruning keeps what it has
   * not applied yet. One-off commands never call this: they reconcile with the table on load.
   */
  async joinFeed(role: string): Promise<FeedMembership> {
    this.position ??= await this.feed.horizon();
    const id = await this.feed.register(role, this.feedPosition()!);
    this.consumerId = id;
    return {
      id,
      at: () => {
        const p = this.feedPosition()!;
        return `${p.position}:${p.applied.length}`;
      },
      beat: () => this.feed.heartbeat(id, role, this.feedPosition()!),
      prune: () => this.feed.prune(),
      leave: async () => {
        if (this.consumerId === id) this.consumerId = undefined;
        await this.feed.unregister(id);
      },
    };
  }

  /**
   * One pass over the feed. It reads every row from the lowest position in scope, in (txid, id)
   * order, and each index takes the rows at or past its own position that it has not applied yet:
   * re-reading is harmless, so indexes loaded at different moments can share one read.
   */
  private async tick(agentIds?: string[]): Promise<{ upserted: number; removed: number }> {
    const total = { upserted: 0, removed: 0 };
    if (agentIds) {
      for (const agentId of agentIds) {
        const agent = await this.agents.resolve(agentId).catch(() => undefined);
        if (agent) await this.table(agent);
        else await this.exclusive(agentId, () => this.forget(agentId));
      }
    } else {
      this.position ??= await this.feed.horizon();
    }
    const inScope = (index: LoadedIndex) => !agentIds || agentIds.includes(index.agentId);
    let from = agentIds ? undefined : this.position;
    for (const index of this.loaded.values()) if (inScope(index) && (from === undefined || index.horizon < from)) from = index.horizon;
    if (from === undefined) return total;

    let after = { txid: from, id: -1 };
    let horizon: bigint | undefined;
    for (;;) {
      // The prune marks only on the first page: the later ones see no row this pass still needs.
      const marks = horizon === undefined ? [...this.loaded.values()].filter(inScope).map((i) => i.agentId) : [];
      const page = await this.feed.read(after, BATCH, agentIds, marks);
      if (horizon === undefined) {
        horizon = page.horizon;
        if (page.prunedThrough.size > 0) await this.recoverPruned(page.prunedThrough, inScope);
      }
      const byAgent = new Map<string, FeedRow[]>();
      for (const r of page.rows) {
        const list = byAgent.get(r.agentId);
        if (list) list.push(r);
        else byAgent.set(r.agentId, [r]);
      }
      for (const [agentId, rows] of byAgent) {
        const r = await this.applyToAgent(agentId, rows);
        total.upserted += r.upserted;
        total.removed += r.removed;
      }
      if (page.rows.length < BATCH) break;
      const last = page.rows[page.rows.length - 1];
      after = { txid: last.txid, id: last.id };
    }
    // Every row below the first page's horizon was visible to this pass, so each index that was
    // at `from` or beyond when it started has now applied all of them. An index loaded meanwhile
    // from an older snapshot keeps its lower position: the next pass re-reads from there.
    for (const index of [...this.loaded.values()]) {
      if (!inScope(index)) continue;
      await this.exclusive(index.agentId, async () => {
        if (this.loaded.get(index.agentId) !== index || index.horizon < from! || index.horizon >= horizon!) return;
        index.horizon = horizon!;
        for (const [id, txid] of index.applied) if (txid < horizon!) index.applied.delete(id);
      });
    }
    if (!agentIds && this.position! < horizon!) this.position = horizon;
    return total;
  }

  /**
   * Rows an index still needed may have been pruned (this process was away too long): that agent,
   * and only that one, reconciles with the table.
   */
  private async recoverPruned(prunedThrough: Map<string, bigint>, inScope: (index: LoadedIndex) => boolean): Promise<void> {
    for (const index of [...this.loaded.values()]) {
      const mark = prunedThrough.get(index.agentId);
      if (!inScope(index) || mark === undefined || index.horizon > mark) continue;
      await this.exclusive(index.agentId, async () => {
        if (this.loaded.get(index.agentId) !== index || index.horizon > mark) return;
        const agent = await this.agents.resolve(index.agentId).catch(() => undefined);
        if (agent) await this.reconcile(index, agent.embeddingModel);
      });
    }
  }

  /** Applies feed rows of one agent, loading its index first; forgets an agent that is gone. */
  private async applyToAgent(agentId: string, rows: FeedRow[]): Promise<{ upserted: number; removed: number }> {
    const agent = await this.agents.resolve(agentId).catch(() => undefined);
    if (!agent) {
      await this.exclusive(agentId, () => this.forget(agentId));
      return { upserted: 0, removed: 0 };
    }
    // Loads (and reconciles) the index, or rebuilds it when the agent's model changed; waits for a load in progress.
    await this.table(agent);
    return this.exclusive(agentId, async () => {
      const index = this.loaded.get(agentId);
      if (!index) return { upserted: 0, removed: 0 };
      const r = await this.apply(index, agent.embeddingModel, rows);
      if (index.dirty && Date.now() - index.savedAt > SAVE_EVERY_MS) this.save(index);
      return r;
    });
  }

  /** Saves every changed index (on shutdown). */
  async saveAll(): Promise<void> {
    for (const index of this.loaded.values()) await this.exclusive(index.agentId, async () => this.save(index));
  }

  /**
   * Each agent's index as this process sees it (the index it holds, or the file it would load),
   * and the lag of every live feed consumer. `lagChanges` is the worst of them, so it is never 0
   * while any replica is behind.
   */
  async status(): Promise<IndexStatus[]> {
    const held = [...this.loaded.values()];
    const applied = new Set<number>();
    for (const index of held) for (const id of index.applied.keys()) applied.add(id);
    const { rows } = await this.db.query<{ agentId: string; agentName: string; spec: string; examples: number; lagChanges: number; lagSeconds: number | null }>(
      `SELECT a.id AS "agentId", a.name AS "agentName", a.embedding_model AS spec,
              (SELECT count(*)::int FROM training_examples e WHERE e.agent_id = a.id) AS examples,
              coalesce(o.n, 0)::int AS "lagChanges",
              extract(epoch FROM now() - o.oldest)::float8 AS "lagSeconds"
         FROM agents a
         LEFT JOIN (SELECT f.agent_id, count(*) AS n, min(f.queued_at) AS oldest
                      FROM unnest($1::uuid[], $2::xid8[]) AS h (agent_id, horizon)
                      JOIN index_outbox f ON f.agent_id = h.agent_id AND f.txid >= h.horizon AND f.id <> ALL ($3::bigint[])
                     GROUP BY f.agent_id) o ON o.agent_id = a.id
        ORDER BY a.name`,
      [held.map((i) => i.agentId), held.map((i) => i.horizon.toString()), [...applied]],
    );
    const consumers = await this.feed.consumers();
    const manifests = new Map(rows.filter((r) => !this.loaded.has(r.agentId)).map((r) => [r.agentId, this.store.readManifest(r.agentId)]));
    const behind = await this.behindOnDisk(manifests);
    return rows.map((r) => {
      const live = this.loaded.get(r.agentId);
      const manifest = manifests.get(r.agentId);
      let lagChanges = r.lagChanges;
      let lagSeconds = r.lagSeconds ?? 0;
      const disk = behind.get(r.agentId);
      if (!live && manifest && disk) {
        // The index searches will load is the file: count what it lacks.
        lagChanges = Math.max(disk.changed, Math.abs(r.examples - manifest.count), disk.unsaved ? 1 : 0);
        lagSeconds = lagChanges > 0 ? disk.seconds : 0;
      }
      const own = { lagChanges, lagSeconds };
      const replicas = consumers.map((c) => {
        // This process knows its own position exactly; the table has it as of the last heartbeat.
        const lag = c.id === this.consumerId ? own : { lagChanges: c.lag.get(r.agentId)?.changes ?? 0, lagSeconds: c.lag.get(r.agentId)?.seconds ?? 0 };
        return { id: c.id, role: c.role, self: c.id === this.consumerId, lastSeenSeconds: c.lastSeenSeconds, lagChanges: lag.lagChanges, lagSeconds: round3(lag.lagSeconds) };
      });
      for (const c of replicas) {
        lagChanges = Math.max(lagChanges, c.lagChanges);
        lagSeconds = Math.max(lagSeconds, c.lagSeconds);
      }
      return {
        agentId: r.agentId,
        agentName: r.agentName,
        model: live?.model ?? manifest?.model ?? this.embedder(r.spec).provider.modelId,
        count: live?.table.size ?? manifest?.count ?? null,
        examples: r.examples,
        lagChanges,
        lagSeconds: round3(lagSeconds),
        lastSync: live ? live.syncedAt.toISOString() : (manifest?.savedAt ?? null),
        processLagChanges: own.lagChanges,
        processLagSeconds: round3(own.lagSeconds),
        consumers: replicas,
      };
    });
  }

  /**
   * For indexes only on disk: how far each file may be behind the table. A process that applied
   * outbox changes in memory and died (kill -9) before saving leaves an empty outbox and a stale
   * file, so the outbox alone would say lag 0. Counted here: examples changed since the file was
   * saved (by the database's clock against the saving process's, equal on one machine), and whether
   * the unsaved marker is there; status adds the difference in counts, which catches deletions.
   */
  private async behindOnDisk(
    manifests: Map<string, IndexManifest | undefined>,
  ): Promise<Map<string, { changed: number; seconds: number; unsaved: boolean }>> {
    const onDisk = [...manifests].filter((e): e is [string, IndexManifest] => e[1] !== undefined);
    const result = new Map<string, { changed: number; seconds: number; unsaved: boolean }>();
    if (onDisk.length === 0) return result;
    const { rows } = await this.db.query<{ agentId: string; changed: number; seconds: number | null; savedSeconds: number }>(
      `SELECT d.agent_id::text AS "agentId", count(e.id)::int AS changed,
              extract(epoch FROM now() - min(e.updated_at))::float8 AS seconds,
              extract(epoch FROM now() - d.saved_at)::float8 AS "savedSeconds"
         FROM unnest($1::uuid[], $2::timestamptz[]) AS d (agent_id, saved_at)
         LEFT JOIN training_examples e ON e.agent_id = d.agent_id AND e.updated_at > d.saved_at
        GROUP BY d.agent_id, d.saved_at`,
      [onDisk.map(([id]) => id), onDisk.map(([, m]) => m.savedAt)],
    );
    for (const r of rows) {
      let unsavedAt: number | undefined;
      try {
        unsavedAt = fs.statSync(path.join(this.store.folder(r.agentId), UNSAVED_MARKER)).mtimeMs;
      } catch {
        unsavedAt = undefined;
      }
      const since = [r.seconds ?? undefined, unsavedAt === undefined ? undefined : (Date.now() - unsavedAt) / 1000].filter((x): x is number => x !== undefined);
      result.set(r.agentId, { changed: r.changed, seconds: since.length ? since.reduce((a, b) => Math.max(a, b)) : r.savedSeconds, unsaved: unsavedAt !== undefined });
    }
    return result;
  }

  private loadFromDisk(agentId: string, model: string): LoadedIndex | undefined {
    let saved;
    try {
      saved = this.store.load(agentId);
    } catch {
      return undefined; // corrupt: rebuild from the database
    }
    if (!saved || saved.manifest.model !== model) return undefined;
    const savedAt = Date.parse(saved.manifest.savedAt);
    // Position 0 until reconcile sets it: a file alone proves nothing about what the table holds now.
    return { agentId, model, table: saved.table, dirty: false, savedAt, syncedAt: new Date(savedAt), watermark: saved.manifest.watermark, horizon: 0n, applied: new Map() };
  }

  /** Builds an agent's index from its rows. Changes committed meanwhile are past its position, for catch-up. */
  private async rebuild(agentId: string, spec: string, onProgress?: (done: number, total: number) => void): Promise<LoadedIndex> {
    const embedder = this.embedder(spec);
    // The position first: every change it covers is visible to the reads below.
    const { horizon, applied } = await this.feed.start(agentId);
    const { rows: countRows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples WHERE agent_id = $1', [agentId]);
    const total = countRows[0].n;
    const table = new VectorTable(embedder.provider.dimensions, total + 1024);
    let last = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const { rows } = await this.db.query<ExampleRow>(
        `${SELECT_ROWS} WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT ${BATCH}`,
        [agentId, last],
      );
      if (rows.length === 0) break;
      await this.upsertRows(table, rows, embedder);
      last = rows[rows.length - 1].id;
      onProgress?.(table.size, total);
    }
    return { agentId, model: embedder.provider.modelId, table, dirty: true, savedAt: 0, syncedAt: new Date(), watermark: 0, horizon, applied };
  }

  /** Makes a loaded index match the table: adds, re-embeds, updates and removes what differs. */
  private async reconcile(index: LoadedIndex, spec: string, onProgress?: (done: number, total: number) => void): Promise<{ upserted: number; removed: number }> {
    const { horizon, applied } = await this.feed.start(index.agentId);
    const { rows } = await this.db.query<{ id: string; reward: number; type: RowType; hash: string }>(
      `SELECT id::text, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash
         FROM training_examples WHERE agent_id = $1`,
      [index.agentId],
    );
    const seen = new Set<string>();
    const stale: string[] = [];
    let upserted = 0;
    for (const r of rows) {
      seen.add(r.id);
      if (index.table.hashOf(r.id) !== r.hash) {
        stale.push(r.id);
      } else {
        const row = index.table.rowOf(r.id)!;
        if (index.table.reward(row) !== Math.fround(r.reward) || index.table.type(row) !== r.type) {
          index.table.setScore(r.id, r.reward, r.type);
          upserted++;
        }
      }
    }
    let removed = 0;
    for (const id of index.table.idList()) if (!seen.has(id)) removed += Number(index.table.delete(id));
    for (let i = 0; i < stale.length; i += BATCH) {
      const { rows: full } = await this.db.query<ExampleRow>(`${SELECT_ROWS} WHERE id = ANY($1::uuid[])`, [stale.slice(i, i + BATCH)]);
      await this.upsertRows(index.table, full, this.embedder(spec));
      upserted += full.length;
      onProgress?.(Math.min(i + BATCH, stale.length), stale.length);
    }
    if (upserted + removed > 0) {
      if (!index.dirty) this.markUnsaved(index.agentId);
      index.dirty = true;
    }
    index.horizon = horizon;
    index.applied = applied;
    index.syncedAt = new Date();
    return { upserted, removed };
  }

  /** Applies feed rows at or past the index's position that it has not applied yet. */
  private async apply(index: LoadedIndex, spec: string, feed: FeedRow[]): Promise<{ upserted: number; removed: number }> {
    const todo = feed.filter((f) => f.txid >= index.horizon && !index.applied.has(f.id));
    if (todo.length === 0) return { upserted: 0, removed: 0 };
    let removed = 0;
    const ids = [...new Set(todo.map((f) => f.exampleId))];
    // The current row decides, not the change record: replaying a change is harmless.
    const { rows } = await this.db.query<ExampleRow>(`${SELECT_ROWS} WHERE id = ANY($1::uuid[]) AND agent_id = $2`, [ids, index.agentId]);
    const present = new Set(rows.map((r) => r.id));
    for (const id of ids) if (!present.has(id)) removed += Number(index.table.delete(id));
    const changed = rows.filter((r) => index.table.hashOf(r.id) !== r.hash);
    for (const r of rows) if (index.table.hashOf(r.id) === r.hash) index.table.setScore(r.id, r.reward, r.type);
    await this.upsertRows(index.table, changed, this.embedder(spec));
    if (!index.dirty) this.markUnsaved(index.agentId);
    index.dirty = true;
    for (const f of todo) index.applied.set(f.id, f.txid);
    index.watermark = maxId(todo, index.watermark);
    index.syncedAt = new Date();
    return { upserted: rows.length, removed };
  }

  private async upsertRows(table: VectorTable, rows: ExampleRow[], embedder: CachedEmbedder): Promise<void> {
    if (rows.length === 0) return;
    // What a query is compared with: the prompt ("find examples asked like this"), and for some models the completion too.
    const vectors = await embedder.embedExamples(rows);
    rows.forEach((r, i) => table.upsert({ id: r.id, vector: vectors[i], reward: r.reward, type: r.type, hash: r.hash }));
  }

  /**
   * Notes, beside the saved index, that this process applied changes it has not saved yet. A save
   * removes it (FileVectorStore.save clears
   * the folder of everything but its data file and manifest). After a kill -9 it tells `status`
   * that the file is behind the table though the outbox is empty.
   */
  private markUnsaved(agentId: string): void {
    const dir = this.store.folder(agentId);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, UNSAVED_MARKER), `${new Date().toISOString()}\n`);
  }

  private save(index: LoadedIndex): void {
    if (!index.dirty) return;
    this.store.save(index.agentId, index.table, { model: index.model, watermark: index.watermark, feedPosition: index.horizon.toString() });
    index.dirty = false;
    index.savedAt = Date.now();
  }

  /** The agent is gone: drop its index. Its feed rows stay: other processes must see them to drop theirs. */
  private async forget(agentId: string): Promise<void> {
    this.loaded.delete(agentId);
    this.store.remove(agentId);
  }

  private exclusive<T>(agentId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(agentId) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.locks.set(agentId, next);
    void next.finally(() => {
      if (this.locks.get(agentId) === next) this.locks.delete(agentId);
    }).catch(() => {});
    return next;
  }
}

/**
 * The highest outbox id, or `floor`. A loop, not Math.max(...ids): spreading a 150,000-row feed into
 * one call overflows the stack.
 */
function maxId(feed: { id: number | string }[], floor: number): number {
  let max = floor;
  for (const r of feed) {
    const id = Number(r.id);
    if (id > max) max = id;
  }
  return max;
}

function round3(x: number): number {
  return Math.max(0, Math.round(x * 1000) / 1000);
}

const SELECT_ROWS = `SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash FROM training_examples`;

export type { IndexStatus, SyncResult };
