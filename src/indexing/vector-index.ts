import type { AgentRef } from '../agents/agents.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import type { ScanFilter, ScoredRow } from '../vectors/vector-table.ts';

/** How a proposal was answered: exact (every row that passes the filter scored) or approximate (HNSW). */
export interface SearchPlan {
  exact: boolean;
  /** What answered, e.g. 'HNSW (pgvector), ef_search 200'; for people. */
  plan: string;
}

/** Options of VectorIndex.propose. */
export interface ProposeOptions {
  /** Score only these rows (for filters only SQL can evaluate). */
  onlyIds?: string[];
  /** Attach each row's vector (diversity and dedupe need it). */
  withVectors?: boolean;
  /** Told how this call was answered (per call, so concurrent searches never see each other's plan). */
  onPlan?: (plan: SearchPlan) => void;
}

/** A row an index proposes for a query, with what the index knew when it proposed it. */
export interface Proposal extends ScoredRow {
  /** Content hash prefix of the indexed vector, to tell a stale one. */
  indexedHash: string | undefined;
  /** A copy of the vector, when asked for (diversity and dedupe need it). */
  vector?: Float32Array;
}

export interface SyncResult {
  agentId: string;
  agentName: string;
  model: string;
  rebuilt: boolean;
  /** Examples embedded and written into the index. */
  upserted: number;
  removed: number;
  count: number;
  ms: number;
}

export interface IndexStatus {
  agentId: string;
  agentName: string;
  model: string;
  /** Examples in the index, or null when it is not built yet. */
  count: number | null;
  examples: number;
  /**
   * Changes not applied yet, and the age of the oldest in seconds: the worst of this process and
   * every live feed consumer, so never 0 while any of them is behind.
   */
  lagChanges: number;
  lagSeconds: number;
  lastSync: string | null;
  /** This process alone: the index it holds, or the file it would load (memory backend). */
  processLagChanges?: number;
  processLagSeconds?: number;
  /** Each live feed consumer (a long-running process such as a replica) and its lag for this agent. */
  consumers?: ConsumerLag[];
}

export interface ConsumerLag {
  /** host:pid:random */
  id: string;
  role: string;
  /** Whether it is this process. */
  self: boolean;
  /** Seconds since its last heartbeat. */
  lastSeenSeconds: number;
  lagChanges: number;
  lagSeconds: number;
}

/** A process's registration as a long-running consumer of the shared change feed. */
export interface FeedMembership {
  id: string;
  /** Its position now, as text, to tell whether a heartbeat would say anything new. */
  at(): string;
  /** Heartbeat: says it is alive and records its position. */
  beat(): Promise<void>;
  /** Prunes rows every live consumer has passed or that are past retention; undefined when another replica holds the lock. */
  prune(): Promise<number | undefined>;
  /** Unregisters (on stop), so it no longer holds rows back. */
  leave(): Promise<void>;
}

/**
 * Where an agent's vectors live and how they are searched. Two backends: `memory` (a VectorTable
 * per agent, saved to files; the fast default) and `pgvector` (a vector column in PostgreSQL, for
 * many replicas over one database). Retrieval and sync only see this interface.
 */
export interface VectorIndex {
  readonly backend: 'memory' | 'pgvector';
  /** The embedder an agent's model spec names, with the PostgreSQL cache in front. */
  embedder(spec: string): CachedEmbedder;
  cacheStats(): { hits: number; misses: number };
  /** The seed's sync_training_data_to_vector_store. */
  sync(agentRef: string, opts?: { forceRebuild?: boolean; onProgress?: (done: number, total: number) => void }): Promise<SyncResult>;
  /** Applies pending outbox changes (of the given agents, or all). */
  catchUp(agentIds?: string[]): Promise<number>;
  status(): Promise<IndexStatus[]>;
  /** Memory backend: registers this process as a long-running consumer of the shared feed. */
  joinFeed?(role: string): Promise<FeedMembership>;
  saveAll(): Promise<void>;
  /**
   * The top `k` rows for `query` under `filter`, best first: exact, unless `opts.onPlan` is told
   * otherwise (pgvector's HNSW path). With `onlyIds`, only those rows are scored.
   */
  propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts?: ProposeOptions): Promise<Proposal[]>;
}
