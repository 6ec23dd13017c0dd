import { AgentService } from './agents/agents.ts';
import { loadConfig, type Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/open.ts';
import { createEmbedding } from './embeddings/providers.ts';
import { ExampleService } from './examples/examples.ts';
import { IndexService, type SyncResult } from './indexing/index-service.ts';
import { SyncWorker } from './indexing/sync-worker.ts';
import { RetrievalService, type RetrieveOptions, type RetrieveResult } from './retrieval/retrieval.ts';

/**
 * The core every door talks to: the database and the domain services on top of it. Open one per
 * process. The library API keeps the seed's names in camelCase.
 */
export class Exemplar {
  readonly agents: AgentService;
  readonly examples: ExampleService;
  readonly index: IndexService;
  readonly retrieval: RetrievalService;
  /** Orchestrator-wide α and β. When set, they replace each agent's own weights (a call's weights still win). */
  similarityWeight?: number;
  scoreWeight?: number;
  private worker?: SyncWorker;

  private constructor(
    readonly config: Config,
    readonly db: Database,
  ) {
    this.agents = new AgentService(db, (spec) => void createEmbedding(spec, config.embedding));
    this.examples = new ExampleService(db, this.agents, config.maxTextBytes);
    this.index = new IndexService(db, this.agents, config.embedding, config.dataDir);
    this.retrieval = new RetrievalService(db, this.agents, this.index, () => ({
      similarityWeight: this.similarityWeight,
      scoreWeight: this.scoreWeight,
    }));
  }

  /** Opens the configured database (embedded PGlite unless DATABASE_URL is set) and migrates it. */
  static async open(config: Config = loadConfig()): Promise<Exemplar> {
    return new Exemplar(config, await openDatabase(config));
  }

  /** The seed's hybrid_retrieve_best_examples: exact filters, then α · similarity + β · reward. */
  hybridRetrieveBestExamples(options: RetrieveOptions): Promise<RetrieveResult> {
    return this.retrieval.hybridRetrieveBestExamples(options);
  }

  /** The seed's sync_training_data_to_vector_store. */
  syncTrainingDataToVectorStore(agentId: string, opts: { forceRebuild?: boolean } = {}): Promise<SyncResult> {
    return this.index.sync(agentId, opts);
  }

  /** Starts the background worker that makes every change searchable within about a second. */
  async startSyncWorker(opts: { pollMs?: number } = {}): Promise<SyncWorker> {
    this.worker ??= new SyncWorker(this.db, this.index, opts);
    await this.worker.start();
    return this.worker;
  }

  async close(): Promise<void> {
    await this.worker?.stop();
    await this.index.saveAll().catch(() => {});
    await this.db.close();
  }
}
