import path from 'node:path';
import { ValidationError } from '../errors.ts';
import { dataDirOf, envMemorySize, envNonNegativeInt, envOneOf, envPositiveInt, envString } from './env.ts';
import { loadEmbeddingConfig, loadLlmConfig, type EmbeddingConfig, type LlmConfig } from './providers.ts';

/**
 * Everything Exemplar reads from the environment, in one place. The README's configuration
 * table lists exactly these variables; keep the two in step.
 */
export interface Config {
  /** Any PostgreSQL. When unset, Exemplar uses the embedded PGlite database. */
  databaseUrl?: string;
  /** PostgreSQL schema Exemplar's tables live in (DATABASE_URL only). */
  dbSchema: string;
  /** Connections in the pool (DATABASE_URL only). */
  dbPoolSize: number;
  /** Where Exemplar keeps its local state. */
  dataDir: string;
  /** PGlite's data directory, or `memory://` for a throwaway in-memory database. */
  pgliteDir: string;
  /** PGlite's shared_buffers (EXEMPLAR_PGLITE_SHARED_BUFFERS), e.g. `128MB`. Unset: PGlite's own
   * default (128MB) for the server, 16MB for a one-off CLI command, which then starts in well under
   * 200 MB (PGlite touches every buffer at start). */
  pgliteSharedBuffers?: string;
  /** Largest prompt or completion accepted, in UTF-8 bytes. */
  maxTextBytes: number;
  /** Largest example metadata accepted, as UTF-8 JSON bytes. */
  maxMetadataBytes: number;
  /** Deepest example metadata accepted: `{}` is 1 level, `{"a":{}}` 2. */
  maxMetadataDepth: number;
  /** Deepest JSON any input may nest (a request body, tool arguments, a file line), counted from its root. */
  maxJsonDepth: number;
  /** Largest prompt version (system prompt) accepted, in UTF-8 bytes. */
  maxPromptBytes: number;
  /** Largest HTTP request body, checked before it is read and before authentication. */
  maxBodyBytes: number;
  /** Largest HTTP request body on the import route (and the CLI's local channel), which carries a whole file. */
  maxImportBytes: number;
  /** Embedding providers' settings (API keys, base URLs, model folders). */
  embedding: EmbeddingConfig;
  /** LLM providers' settings, for prompt optimization. */
  llm: LlmConfig;
  /** Where vectors live: `memory` (in-memory index saved to files), `pgvector`, or `auto`. */
  vectorBackend: 'auto' | 'memory' | 'pgvector';
  /**
   * pgvector: a search whose filter passes more than this many of the agent's rows uses HNSW over the
   * hybrid vector (approximate); at most this many, an exact scan (EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS).
   * Unset: every search is exact, as similarity is exact by default (see the bench for HNSW's recall).
   */
  pgvectorExactMaxRows?: number;
  /** pgvector: HNSW's candidate list (hnsw.ef_search, EXEMPLAR_PGVECTOR_EF_SEARCH); 200 gave recall@10 0.96 at 100k on the bench. */
  pgvectorEfSearch: number;
  /**
   * pgvector: m and ef_construction of an HNSW index made from now on (EXEMPLAR_PGVECTOR_HNSW_M,
   * EXEMPLAR_PGVECTOR_HNSW_EF_CONSTRUCTION; default 16 and 64). An index already built keeps its own: see the README.
   */
  pgvectorHnswM: number;
  pgvectorHnswEfConstruction: number;
  /** `exemplar serve` binds here; 127.0.0.1 unless you mean to expose it. */
  host: string;
  port: number;
  /** Browser origins allowed to call the HTTP doors, besides localhost. */
  allowedOrigins: string[];
  /** Open MCP sessions (protocols before 2026-07-28) one API key may hold (EXEMPLAR_MCP_SESSIONS_PER_KEY). */
  mcpSessionsPerKey: number;
  /** Calls a minute one API key may make to search and run_sql (EXEMPLAR_RATE_LIMIT_SEARCH); 0: no limit. */
  rateLimitSearch: number;
  /** Calls a minute one API key may make to optimize, build datasets, start runs and evaluate search (EXEMPLAR_RATE_LIMIT_HEAVY); 0: no limit. */
  rateLimitHeavy: number;
  /** Host header values the server answers to besides its own addresses and localhost (DNS rebinding); `*` allows any. */
  allowedHosts: string[];
  /** Largest run_sql result, in bytes of JSON; rows beyond it are cut off (`truncated`). */
  sqlMaxResultBytes: number;
  /** run_sql queries running at once over all callers; unset: half the pool on PostgreSQL, 1 on PGlite. */
  sqlMaxConcurrent?: number;
  /** run_sql queries running at once for one key; unset: 1. */
  sqlMaxConcurrentPerKey?: number;
  /** How long the change feed keeps a row a live consumer has not passed yet (EXEMPLAR_FEED_RETENTION_HOURS); a consumer away longer reconciles with the table. */
  feedRetentionHours: number;
  /** A feed consumer (a replica) not heard from for this long no longer holds rows back (EXEMPLAR_FEED_CONSUMER_TIMEOUT_SECONDS). */
  feedConsumerTimeoutSeconds: number;
  /** On PGlite, the longest a run_sql query may hold the database (by the planner's estimate, then while reading rows); unset: 50 ms. */
  sqlEmbeddedMaxMs?: number;
}

/** 20 a second, bursts of 200: an agent searching at every step stays far below it. */
export const DEFAULT_RATE_LIMIT_SEARCH = 1200;
/** One a second, bursts of 10: each of these calls takes seconds of CPU or an LLM's tokens. */
export const DEFAULT_RATE_LIMIT_HEAVY = 60;
export const DEFAULT_PGVECTOR_EF_SEARCH = 200;
export const DEFAULT_PGVECTOR_HNSW_M = 16;
export const DEFAULT_PGVECTOR_HNSW_EF_CONSTRUCTION = 64;
export const DEFAULT_FEED_RETENTION_HOURS = 24;
/** Twelve missed heartbeats (one every five seconds): a replica in a long GC pause or a brief partition still counts. */
export const DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS = 60;
export const DEFAULT_MAX_TEXT_BYTES = 1024 * 1024;
export const DEFAULT_SQL_MAX_RESULT_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MAX_METADATA_BYTES = 256 * 1024;
export const DEFAULT_MAX_METADATA_DEPTH = 20;
export const DEFAULT_MAX_JSON_DEPTH = 64;
export const DEFAULT_MAX_PROMPT_BYTES = 256 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
export const DEFAULT_MAX_IMPORT_BYTES = 200 * 1024 * 1024;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const dataDir = dataDirOf(env, overrides.dataDir);
  const config: Config = {
    databaseUrl: envString(env.DATABASE_URL),
    dbSchema: env.EXEMPLAR_DB_SCHEMA ?? 'public',
    dbPoolSize: envPositiveInt(env.EXEMPLAR_DB_POOL_SIZE, 'EXEMPLAR_DB_POOL_SIZE') ?? 10,
    dataDir,
    pgliteDir: env.EXEMPLAR_PGLITE_DIR ?? path.join(dataDir, 'db'),
    pgliteSharedBuffers: envMemorySize(env.EXEMPLAR_PGLITE_SHARED_BUFFERS, 'EXEMPLAR_PGLITE_SHARED_BUFFERS'),
    maxTextBytes: envPositiveInt(env.EXEMPLAR_MAX_TEXT_BYTES, 'EXEMPLAR_MAX_TEXT_BYTES') ?? DEFAULT_MAX_TEXT_BYTES,
    maxMetadataBytes: envPositiveInt(env.EXEMPLAR_MAX_METADATA_BYTES, 'EXEMPLAR_MAX_METADATA_BYTES') ?? DEFAULT_MAX_METADATA_BYTES,
    maxMetadataDepth: envPositiveInt(env.EXEMPLAR_MAX_METADATA_DEPTH, 'EXEMPLAR_MAX_METADATA_DEPTH') ?? DEFAULT_MAX_METADATA_DEPTH,
    maxJsonDepth: envPositiveInt(env.EXEMPLAR_MAX_JSON_DEPTH, 'EXEMPLAR_MAX_JSON_DEPTH') ?? DEFAULT_MAX_JSON_DEPTH,
    maxPromptBytes: envPositiveInt(env.EXEMPLAR_MAX_PROMPT_BYTES, 'EXEMPLAR_MAX_PROMPT_BYTES') ?? DEFAULT_MAX_PROMPT_BYTES,
    maxBodyBytes: envPositiveInt(env.EXEMPLAR_MAX_BODY_BYTES, 'EXEMPLAR_MAX_BODY_BYTES') ?? DEFAULT_MAX_BODY_BYTES,
    maxImportBytes: envPositiveInt(env.EXEMPLAR_MAX_IMPORT_BYTES, 'EXEMPLAR_MAX_IMPORT_BYTES') ?? DEFAULT_MAX_IMPORT_BYTES,
    embedding: loadEmbeddingConfig({ ...env, EXEMPLAR_DATA_DIR: dataDir }),
    llm: loadLlmConfig(env),
    host: env.EXEMPLAR_HOST || '127.0.0.1',
    port: envPositiveInt(env.EXEMPLAR_PORT, 'EXEMPLAR_PORT') ?? 8787,
    allowedOrigins: (env.EXEMPLAR_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    mcpSessionsPerKey: envPositiveInt(env.EXEMPLAR_MCP_SESSIONS_PER_KEY, 'EXEMPLAR_MCP_SESSIONS_PER_KEY') ?? 32,
    rateLimitSearch: envNonNegativeInt(env.EXEMPLAR_RATE_LIMIT_SEARCH, 'EXEMPLAR_RATE_LIMIT_SEARCH') ?? DEFAULT_RATE_LIMIT_SEARCH,
    rateLimitHeavy: envNonNegativeInt(env.EXEMPLAR_RATE_LIMIT_HEAVY, 'EXEMPLAR_RATE_LIMIT_HEAVY') ?? DEFAULT_RATE_LIMIT_HEAVY,
    allowedHosts: (env.EXEMPLAR_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean),
    sqlMaxResultBytes: envPositiveInt(env.EXEMPLAR_SQL_MAX_RESULT_BYTES, 'EXEMPLAR_SQL_MAX_RESULT_BYTES') ?? DEFAULT_SQL_MAX_RESULT_BYTES,
    sqlMaxConcurrent: envPositiveInt(env.EXEMPLAR_SQL_MAX_CONCURRENT, 'EXEMPLAR_SQL_MAX_CONCURRENT'),
    sqlMaxConcurrentPerKey: envPositiveInt(env.EXEMPLAR_SQL_MAX_CONCURRENT_PER_KEY, 'EXEMPLAR_SQL_MAX_CONCURRENT_PER_KEY'),
    sqlEmbeddedMaxMs: envPositiveInt(env.EXEMPLAR_SQL_EMBEDDED_MAX_MS, 'EXEMPLAR_SQL_EMBEDDED_MAX_MS'),
    feedRetentionHours: envPositiveInt(env.EXEMPLAR_FEED_RETENTION_HOURS, 'EXEMPLAR_FEED_RETENTION_HOURS') ?? DEFAULT_FEED_RETENTION_HOURS,
    feedConsumerTimeoutSeconds:
      envPositiveInt(env.EXEMPLAR_FEED_CONSUMER_TIMEOUT_SECONDS, 'EXEMPLAR_FEED_CONSUMER_TIMEOUT_SECONDS') ?? DEFAULT_FEED_CONSUMER_TIMEOUT_SECONDS,
    vectorBackend: envOneOf(env.EXEMPLAR_VECTOR_BACKEND, 'EXEMPLAR_VECTOR_BACKEND', ['auto', 'memory', 'pgvector'] as const, 'auto'),
    pgvectorExactMaxRows: envNonNegativeInt(env.EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS, 'EXEMPLAR_PGVECTOR_EXACT_MAX_ROWS'),
    pgvectorEfSearch: envPositiveInt(env.EXEMPLAR_PGVECTOR_EF_SEARCH, 'EXEMPLAR_PGVECTOR_EF_SEARCH') ?? DEFAULT_PGVECTOR_EF_SEARCH,
    pgvectorHnswM: envPositiveInt(env.EXEMPLAR_PGVECTOR_HNSW_M, 'EXEMPLAR_PGVECTOR_HNSW_M') ?? DEFAULT_PGVECTOR_HNSW_M,
    pgvectorHnswEfConstruction:
      envPositiveInt(env.EXEMPLAR_PGVECTOR_HNSW_EF_CONSTRUCTION, 'EXEMPLAR_PGVECTOR_HNSW_EF_CONSTRUCTION') ?? DEFAULT_PGVECTOR_HNSW_EF_CONSTRUCTION,
    ...dropUndefined(overrides),
  };
  // pgvector's own limits, checked at start rather than at the first index build.
  if (config.pgvectorHnswM < 2 || config.pgvectorHnswM > 100) {
    throw new ValidationError('EXEMPLAR_PGVECTOR_HNSW_M', `must be between 2 and 100 (got ${config.pgvectorHnswM})`);
  }
  if (config.pgvectorHnswEfConstruction < 2 * config.pgvectorHnswM || config.pgvectorHnswEfConstruction > 1000) {
    throw new ValidationError('EXEMPLAR_PGVECTOR_HNSW_EF_CONSTRUCTION', `must be between 2 × m (${2 * config.pgvectorHnswM}) and 1000 (got ${config.pgvectorHnswEfConstruction})`);
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(config.dbSchema)) {
    throw new ValidationError('EXEMPLAR_DB_SCHEMA', `"${config.dbSchema}" is not a plain lower-case schema name`);
  }
  return config;
}

function dropUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Shows a connection string without its password, for logs and status output. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}
