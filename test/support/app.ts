import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { Exemplar } from '../../src/exemplar.ts';

export const TEST_DB = (process.env.EXEMPLAR_TEST_DB ?? 'pglite') as 'pglite' | 'postgres';
export const TEST_DATABASE_URL = process.env.EXEMPLAR_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestEnv {
  app: Exemplar;
  /** Environment variables that point a child process (the CLI) at the same database. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Opens Exemplar on the database under test: an in-memory PGlite, or a fresh schema of its own
 * in the local PostgreSQL that is dropped afterwards.
 */
export async function openTestApp(overrides: Partial<Config> = {}): Promise<TestEnv> {
  if (TEST_DB === 'postgres') {
    const schema = `exemplar_test_${randomBytes(6).toString('hex')}`;
    const config = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema }, overrides);
    const app = await Exemplar.open(config);
    return {
      app,
      env: { DATABASE_URL: TEST_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema },
      close: async () => {
        await app.close();
        await dropSchema(schema);
      },
    };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-test-'));
  const config = loadConfig({ EXEMPLAR_DATA_DIR: dataDir, EXEMPLAR_PGLITE_DIR: 'memory://' }, overrides);
  const app = await Exemplar.open(config);
  return {
    app,
    env: { EXEMPLAR_DATA_DIR: dataDir },
    close: async () => {
      await app.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Drops a test schema. A CLI child may still be finishing a write (its sync worker embedding into
 * example_vectors) as the test ends; DROP SCHEMA takes its locks in another order, so PostgreSQL
 * may pick the DROP as a deadlock victim: it is tried again.
 */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_scoped CASCADE`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  } finally {
    await client.end();
  }
}

const TABLES = [
  'agents',
  'prompt_versions',
  'prompt_labels',
  'training_examples',
  'fine_tuning_runs',
  'run_examples',
  'audit_log',
  'index_outbox',
  'embedding_cache',
  'relevance_judgments',
  'example_reward_history',
  'example_usage',
];

/** A fingerprint of every row of every table: equal fingerprints mean the database did not change. */
export async function snapshot(app: Exemplar): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    const { rows } = await app.db.query<{ n: number; h: string | null }>(
      `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t`,
    );
    out[table] = `${rows[0].n}:${rows[0].h ?? ''}`;
  }
  return out;
}

export const ACTOR = 'test';

/**
 * Environment for CLI child processes: a PGlite data directory of their own, or a fresh schema
 * in the local PostgreSQL. No database is opened here, so children do not contend with us.
 */
export async function cliEnv(): Promise<{ env: Record<string, string>; close(): Promise<void> }> {
  if (TEST_DB === 'postgres') {
    const schema = `exemplar_test_${randomBytes(6).toString('hex')}`;
    return {
      env: { DATABASE_URL: TEST_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema },
      close: () => dropSchema(schema),
    };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-cli-'));
  return { env: { EXEMPLAR_DATA_DIR: dataDir }, close: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
}
