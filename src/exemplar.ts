import { ApiKeyService } from './access/api-keys.ts';
import { AgentService } from './agents/agents.ts';
import { loadConfig, type Config } from './config/config.ts';
import type { Database } from './db/database.ts';
import { openDatabase } from './db/open.ts';
import { createEmbedding } from './embeddings/providers.ts';
import { EvalSetService } from './evaluation/eval-sets.ts';
import { EvalRunService } from './evaluation/runs.ts';
import { ExampleService } from './examples/examples.ts';
import { UsageRecorder } from './examples/usage.ts';
import { RunService } from './finetune/runs.ts';
import { IndexService } from './indexing/index-service.ts';
import { PgvectorIndex } from './indexing/pgvector-index.ts';
import type { OptimizeOptions, OptimizeResult } from './optimization/optimize.ts';
import { PromptService } from './prompts/prompts.ts';
import type { SyncResult, VectorIndex } from './indexing/vector-index.ts';
import { SyncWorker } from './indexing/sync-worker.ts';
import { RetrievalService, type RetrieveOptions, type RetrieveResult } from './retrieval/retrieval.ts';
import { RelevanceService } from './relevance/relevance.ts';

/**
 * The core every door talks to: the database and the domain services on top of it. Open one per
 * process. The library API keeps the seed's names in camelCase.
 */
export class Exemplar {
  readonly agents: AgentService;
  readonly apiKeys: ApiKeyService;
  readonly prompts: PromptService;
  readonly examples: ExampleService;
  /** When examples were last searched or put in a dataset (batched writes; see UsageRecorder). */
  readonly usage: UsageRecorder;
  /** Where vectors live and how they are searched (see VectorIndex). */
  readonly index: VectorIndex;
  /** The in-memory backend; it also owns the embedders and their cache statistics. */
  readonly memoryIndex: IndexService;
  readonly retrieval: RetrievalService;
  /** Labelled questions and judgments: measures search relevance and tunes α and β. */
  readonly relevance: RelevanceService;
  /** Fine-tuning runs and their backends (openai, local, external). */
  readonly runs: RunService;
  /** Pinned, versioned selections of an agent's examples that prompt versions are evaluated on. */
  readonly evalSets: EvalSetService;
  /** Evaluation runs: a prompt version answers an eval set, scored offline and by an LLM judge. */
  readonly evalRuns: EvalRunService;
  /** Orchestrator-wide α and β. When set, they replace each agent's own weights (a call's weights still win). */
  similarityWeight?: number;
  scoreWeight?: number;
  private worker?: SyncWorker;

  private constructor(
    readonly config: Config,
    readonly db: Database,
    backend: 'memory' | 'pgvector',
  ) {
    this.agents = new AgentService(db, (spec) => void createEmbedding(spec, config.embedding));
    this.examples = new ExampleService(db, this.agents, config);
    this.usage = new UsageRecorder(db);
    this.apiKeys = new ApiKeyService(db, this.agents);
    this.prompts = new PromptService(db, this.agents, config.maxPromptBytes);
    this.memoryIndex = new IndexService(db, this.agents, config.embedding, config.dataDir, {
      retentionMs: config.feedRetentionHours * 3_600_000,
      consumerTimeoutMs: config.feedConsumerTimeoutSeconds * 1000,
    });
    this.index =
      backend === 'pgvector'
        ? new PgvectorIndex(db, this.agents, (spec) => this.memoryIndex.embedder(spec), () => this.memoryIndex.cacheStats(), {
            exactMaxRows: config.pgvectorExactMaxRows ?? Infinity,
            efSearch: config.pgvectorEfSearch,
            hnswM: config.pgvectorHnswM,
            hnswEfConstruction: config.pgvectorHnswEfConstruction,
          })
        : this.memoryIndex;
    this.retrieval = new RetrievalService(db, this.agents, this.index, () => ({
      similarityWeight: this.similarityWeight,
      scoreWeight: this.scoreWeight,
    }));
    this.relevance = new RelevanceService(db, this.agents, (options) => this.retrieval.hybridRetrieveBestExamples(options));
    this.runs = new RunService(this);
    this.evalSets = new EvalSetService(db, this.agents);
    this.evalRuns = new EvalRunService(db, this.agents, this.prompts, (spec) => this.memoryIndex.embedder(spec), config.llm);
  }

  /** Opens the configured database (embedded PGlite unless DATABASE_URL is set) and migrates it. */
  static async open(config: Config = loadConfig()): Promise<Exemplar> {
    const db = await openDatabase(config);
    const app = new Exemplar(config, db, await chooseBackend(config, db));
    if (app.index instanceof PgvectorIndex) await app.index.check().catch(async (err) => {
      await db.close();
      throw err;
    });
    return app;
  }

  /** The seed's hybrid_retrieve_best_examples: exact filters, then α · similarity + β · reward. */
  async hybridRetrieveBestExamples(options: RetrieveOptions): Promise<RetrieveResult> {
    const result = await this.retrieval.hybridRetrieveBestExamples(options);
    this.usage.noteSearch(result.results.map((r) => r.id));
    return result;
  }

  /** The seed's sync_training_data_to_vector_store. */
  syncTrainingDataToVectorStore(agentId: string, opts: { forceRebuild?: boolean } = {}): Promise<SyncResult> {
    return this.index.sync(agentId, opts);
  }

  /** The seed's optimize_prompt_with_mcp_rag: a better prompt from the agent's best and worst examples, saved as a new version. */
  async optimizePromptWithMcpRag(agentId: string, opts: OptimizeOptions = {}, actor = 'library'): Promise<OptimizeResult> {
    const { optimizePromptWithMcpRag } = await import('./optimization/optimize.ts'); // the LLM SDKs load only when it runs
    return optimizePromptWithMcpRag(this, agentId, opts, actor, this.config.llm);
  }

  /** Starts the background worker that makes every change searchable within about a second. */
  async startSyncWorker(opts: { pollMs?: number; role?: string; pruneEveryMs?: number } = {}): Promise<SyncWorker> {
    // The feed of the configured retention prunes whatever the backend (pgvector holds rows too).
    this.worker ??= new SyncWorker(this.db, this.index, { ...opts, feed: this.memoryIndex.feed });
    await this.worker.start();
    return this.worker;
  }

  async close(): Promise<void> {
    await this.worker?.stop();
    await this.runs.stopPoller();
    await this.index.saveAll().catch(() => {});
    await this.usage.close();
    await this.db.close();
  }
}

/**
 * `auto` picks pgvector on a PostgreSQL server that has it (replicas share one database, so they
 * share its vectors), and the in-memory index otherwise. Embedded PGlite has pgvector too, but one
 * process owns it, and the in-memory scan is many times faster there (see the benchmark).
 */
async function chooseBackend(config: Config, db: Database): Promise<'memory' | 'pgvector'> {
  if (config.vectorBackend !== 'auto') return config.vectorBackend;
  if (db.kind !== 'postgres') return 'memory';
  const { rows } = await db.query<{ t: string | null }>(`SELECT to_regclass('example_vectors')::text AS t`);
  return rows[0].t ? 'pgvector' : 'memory';
}
