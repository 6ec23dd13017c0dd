import path from 'node:path';
import { loadEmbeddingConfig, type EmbeddingConfig } from '../embeddings/providers.ts';
import { ValidationError } from '../errors.ts';
import { dataDirOf, envOneOf, envPositiveInt, envString } from './env.ts';
import { loadLlmConfig, type LlmConfig } from '../llm/provider.ts';

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
  /** Largest prompt or completion accepted, in UTF-8 bytes. */
  maxTextBytes: number;
  /** Embedding providers' settings (API keys, base URLs, model folders). */
  embedding: EmbeddingConfig;
  /** LLM providers' settings, for prompt optimization. */
  llm: LlmConfig;
  /** Where vectors live: `memory` (in-memory index saved to files), `pgvector`, or `auto`. */
  vectorBackend: 'auto' | 'memory' | 'pgvector';
  /** `exemplar serve` binds here; 127.0.0.1 unless you mean to expose it. */
  host: string;
  port: number;
  /** Browser origins allowed to call the HTTP doors, besides localhost. */
  allowedOrigins: string[];
}

export const DEFAULT_MAX_TEXT_BYTES = 1024 * 1024;

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const dataDir = dataDirOf(env, overrides.dataDir);
  const config: Config = {
    databaseUrl: envString(env.DATABASE_URL),
    dbSchema: env.EXEMPLAR_DB_SCHEMA ?? 'public',
    dbPoolSize: envPositiveInt(env.EXEMPLAR_DB_POOL_SIZE, 'EXEMPLAR_DB_POOL_SIZE') ?? 10,
    dataDir,
    pgliteDir: env.EXEMPLAR_PGLITE_DIR ?? path.join(dataDir, 'db'),
    maxTextBytes: envPositiveInt(env.EXEMPLAR_MAX_TEXT_BYTES, 'EXEMPLAR_MAX_TEXT_BYTES') ?? DEFAULT_MAX_TEXT_BYTES,
    embedding: loadEmbeddingConfig({ ...env, EXEMPLAR_DATA_DIR: dataDir }),
    llm: loadLlmConfig(env),
    host: env.EXEMPLAR_HOST || '127.0.0.1',
    port: envPositiveInt(env.EXEMPLAR_PORT, 'EXEMPLAR_PORT') ?? 8787,
    allowedOrigins: (env.EXEMPLAR_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    vectorBackend: envOneOf(env.EXEMPLAR_VECTOR_BACKEND, 'EXEMPLAR_VECTOR_BACKEND', ['auto', 'memory', 'pgvector'] as const, 'auto'),
    ...dropUndefined(overrides),
  };
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
