import fs from 'node:fs';
import path from 'node:path';
import type { AgentRef, AgentService } from '../agents/agents.ts';
import type { Database } from '../db/database.ts';
import { CachedEmbedder } from '../embeddings/cache.ts';
import { createEmbedding, type EmbeddingConfig } from '../embeddings/providers.ts';
import { FileVectorStore, type IndexManifest } from '../vectors/file-store.ts';
import { VectorTable, type RowType, type ScanFilter } from '../vectors/vector-table.ts';
import type { IndexStatus, Proposal, SyncResult, VectorIndex } from './vector-index.ts';

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
  /** Highest outbox id applied, recorded in the manifest. */
  watermark: number;
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
 * The database is the source of truth and `index_outbox` is the change feed. Loading an index
 * reads the saved file, then reconciles it with the table (so a stale or half-synced file always
 * converges); catching up applies outbox changes in memory and then deletes them. Files are saved
 * atomically now and then, and on `sync` and shutdown.
 */
export class IndexService implements VectorIndex {
  readonly backend = 'memory' as const;
  readonly store: FileVectorStore;
  private readonly loaded = new Map<string, LoadedIndex>();
  private readonly embedders = new Map<string, CachedEmbedder>();
  /** One operation at a time per agent. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly embeddingConfig: EmbeddingConfig,
    dataDir: string,
  ) {
    this.store = new FileVectorStore(path.join(dataDir, 'index'));
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
    return this.exclusive(agent.id, async () => {
      const t0 = performance.now();
      let rebuilt = false;
      let upserted = 0;
      let removed = 0;
      let index = this.loaded.get(agent.id);
      const model = this.embedder(agent.embeddingModel).provider.modelId;
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
      const caught = await this.drain(index, agent.embeddingModel);
      upserted += caught.upserted;
      removed += caught.removed;
      this.save(index);
      return {
        agentId: agent.id,
        agentName: agent.name,
        model,
        rebuilt,
        upserted,
        removed,
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

  async propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts: { onlyIds?: string[]; withVectors?: boolean } = {}): Promise<Proposal[]> {
    const { table } = await this.table(agent);
    const scored = opts.onlyIds
      ? table.scoreRows(query, opts.onlyIds.map((id) => table.rowOf(id)).filter((r): r is number => r !== undefined), filter).slice(0, k)
      : table.search(query, k, filter);
    // Snapshot what the index says now: sync may change the table while the caller awaits the database.
    return scored.map((r) => ({ ...r, indexedHash: table.hashOf(r.id), vector: opts.withVectors ? table.vector(r.row) : undefined }));
  }

  /**
   * Applies every pending outbox change of the given agents (all agents with changes when
   * omitted). An index not loaded yet is loaded first, so the outbox never piles up.
   */
  async catchUp(agentIds?: string[]): Promise<number> {
    const ids =
      agentIds ??
      (await this.db.query<{ agentId: string }>('SELECT DISTINCT agent_id AS "agentId" FROM index_outbox')).rows.map((r) => r.agentId);
    let applied = 0;
    for (const agentId of ids) {
      const exists = (await this.db.query('SELECT 1 FROM agents WHERE id = $1', [agentId])).rows.length > 0;
      if (!exists) {
        await this.exclusive(agentId, () => this.forget(agentId));
        continue;
      }
      // Loads (and reconciles) the index, or rebuilds it when the agent's model changed.
      await this.table(agentId);
      await this.exclusive(agentId, async () => {
        const index = this.loaded.get(agentId);
        const agent = await this.agents.resolve(agentId).catch(() => undefined);
        if (!index || !agent) return;
        const r = await this.drain(index, agent.embeddingModel);
        applied += r.upserted + r.removed;
        if (index.dirty && Date.now() - index.savedAt > SAVE_EVERY_MS) this.save(index);
      });
    }
    return applied;
  }

  /** Saves every changed index (on shutdown). */
  async saveAll(): Promise<void> {
    for (const index of this.loaded.values()) await this.exclusive(index.agentId, async () => this.save(index));
  }

  async status(): Promise<IndexStatus[]> {
    const { rows } = await this.db.query<{ agentId: string; agentName: string; spec: string; examples: number; lagChanges: number; lagSeconds: number | null }>(
      `SELECT a.id AS "agentId", a.name AS "agentName", a.embedding_model AS spec,
              (SELECT count(*)::int FROM training_examples e WHERE e.agent_id = a.id) AS examples,
              coalesce(o.n, 0)::int AS "lagChanges",
              extract(epoch FROM now() - o.oldest)::float8 AS "lagSeconds"
         FROM agents a
         LEFT JOIN (SELECT agent_id, count(*) AS n, min(queued_at) AS oldest FROM index_outbox GROUP BY agent_id) o ON o.agent_id = a.id
        ORDER BY a.name`,
    );
    const manifests = new Map(rows.filter((r) => !this.loaded.has(r.agentId)).map((r) => [r.agentId, this.store.readManifest(r.agentId)]));
    const behind = await this.behindOnDisk(manifests);
    return rows.map((r) => {
      const live = this.loaded.get(r.agentId);
      const manifest = manifests.get(r.agentId);
      let lagChanges = r.lagChanges;
      let lagSeconds = r.lagSeconds ?? 0;
      const disk = behind.get(r.agentId);
      if (!live && manifest && disk) {
        // The index searches will load is the file: count what it lacks, not only what the outbox holds.
        const estimate = Math.max(disk.changed, Math.abs(r.examples - manifest.count), disk.unsaved ? 1 : 0);
        if (estimate > lagChanges) {
          lagChanges = estimate;
          lagSeconds = Math.max(lagSeconds, disk.seconds);
        }
      }
      return {
        agentId: r.agentId,
        agentName: r.agentName,
        model: live?.model ?? manifest?.model ?? this.embedder(r.spec).provider.modelId,
        count: live?.table.size ?? manifest?.count ?? null,
        examples: r.examples,
        lagChanges,
        lagSeconds: Math.max(0, Math.round(lagSeconds * 1000) / 1000),
        lastSync: live ? live.syncedAt.toISOString() : (manifest?.savedAt ?? null),
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
    return { agentId, model, table: saved.table, dirty: false, savedAt, syncedAt: new Date(savedAt), watermark: saved.manifest.watermark };
  }

  /** Builds an agent's index from its rows. Changes made meanwhile stay in the outbox for catch-up. */
  private async rebuild(agentId: string, spec: string, onProgress?: (done: number, total: number) => void): Promise<LoadedIndex> {
    const embedder = this.embedder(spec);
    // Take the outbox entries first: every change they record is visible to the reads below.
    const { rows: feed } = await this.db.query<{ id: number }>('SELECT id FROM index_outbox WHERE agent_id = $1', [agentId]);
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
    if (feed.length > 0) this.markUnsaved(agentId);
    await this.deleteOutbox(feed.map((r) => r.id));
    const watermark = maxId(feed, 0);
    return { agentId, model: embedder.provider.modelId, table, dirty: true, savedAt: 0, syncedAt: new Date(), watermark };
  }

  /** Makes a loaded index match the table: adds, re-embeds, updates and removes what differs. */
  private async reconcile(index: LoadedIndex, spec: string, onProgress?: (done: number, total: number) => void): Promise<{ upserted: number; removed: number }> {
    const { rows: feed } = await this.db.query<{ id: number }>('SELECT id FROM index_outbox WHERE agent_id = $1', [index.agentId]);
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
    await this.deleteOutbox(feed.map((r) => r.id));
    index.watermark = maxId(feed, index.watermark);
    index.syncedAt = new Date();
    return { upserted, removed };
  }

  /** Applies the agent's pending outbox changes in memory, then deletes them. */
  private async drain(index: LoadedIndex, spec: string): Promise<{ upserted: number; removed: number }> {
    let upserted = 0;
    let removed = 0;
    for (;;) {
      const { rows: feed } = await this.db.query<{ id: number; exampleId: string }>(
        `SELECT id, example_id AS "exampleId" FROM index_outbox WHERE agent_id = $1 ORDER BY id LIMIT ${BATCH}`,
        [index.agentId],
      );
      if (feed.length === 0) break;
      const ids = [...new Set(feed.map((f) => f.exampleId))];
      // The current row decides, not the change record: replaying a change is harmless.
      const { rows } = await this.db.query<ExampleRow>(`${SELECT_ROWS} WHERE id = ANY($1::uuid[]) AND agent_id = $2`, [ids, index.agentId]);
      const present = new Set(rows.map((r) => r.id));
      for (const id of ids) if (!present.has(id)) removed += Number(index.table.delete(id));
      const changed = rows.filter((r) => index.table.hashOf(r.id) !== r.hash);
      for (const r of rows) if (index.table.hashOf(r.id) === r.hash) index.table.setScore(r.id, r.reward, r.type);
      await this.upsertRows(index.table, changed, this.embedder(spec));
      upserted += rows.length;
      if (!index.dirty) this.markUnsaved(index.agentId);
      index.dirty = true;
      await this.deleteOutbox(feed.map((f) => f.id));
      index.watermark = Math.max(index.watermark, Number(feed[feed.length - 1].id));
      index.syncedAt = new Date();
    }
    return { upserted, removed };
  }

  private async upsertRows(table: VectorTable, rows: ExampleRow[], embedder: CachedEmbedder): Promise<void> {
    if (rows.length === 0) return;
    // What a query is compared with: the prompt ("find examples asked like this"), and for some models the completion too.
    const vectors = await embedder.embedExamples(rows);
    rows.forEach((r, i) => table.upsert({ id: r.id, vector: vectors[i], reward: r.reward, type: r.type, hash: r.hash }));
  }

  private async deleteOutbox(ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 10_000) {
      await this.db.query('DELETE FROM index_outbox WHERE id = ANY($1::bigint[])', [ids.slice(i, i + 10_000)]);
    }
  }

  /**
   * Notes, beside the saved index, that this process applied changes it has not saved yet. It is
   * written before the outbox rows are deleted, and a save removes it (FileVectorStore.save clears
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
    this.store.save(index.agentId, index.table, { model: index.model, watermark: index.watermark });
    index.dirty = false;
    index.savedAt = Date.now();
  }

  /** The agent is gone: drop its index and its pending changes. */
  private async forget(agentId: string): Promise<void> {
    this.loaded.delete(agentId);
    this.store.remove(agentId);
    await this.db.query('DELETE FROM index_outbox WHERE agent_id = $1', [agentId]);
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

const SELECT_ROWS = `SELECT id::text, prompt, completion, reward_score AS reward, example_type AS type, left(content_hash, 16) AS hash FROM training_examples`;

export type { IndexStatus, SyncResult };
