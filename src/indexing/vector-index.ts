import type { AgentRef } from '../agents/agents.ts';
import type { CachedEmbedder } from '../embeddings/cache.ts';
import type { ScanFilter, ScoredRow } from '../vectors/vector-table.ts';

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
  /** Changes waiting in the outbox, and the age of the oldest in seconds. */
  lagChanges: number;
  lagSeconds: number;
  lastSync: string | null;
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
  saveAll(): Promise<void>;
  /**
   * The exact top `k` rows for `query` under `filter`, best first. With `onlyIds`, only those rows
   * are scored (for filters only SQL can evaluate).
   */
  propose(agent: AgentRef, query: Float32Array, k: number, filter: ScanFilter, opts?: { onlyIds?: string[]; withVectors?: boolean }): Promise<Proposal[]>;
}
