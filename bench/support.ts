import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/config.ts';
import { Exemplar } from '../src/exemplar.ts';

export const BENCH_DATABASE_URL = process.env.EXEMPLAR_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Opens Exemplar on a throwaway database of the given kind; `close` removes it. */
export async function openBenchApp(kind: 'pglite' | 'postgres'): Promise<{ app: Exemplar; close(): Promise<void> }> {
  if (kind === 'postgres') {
    const schema = `exemplar_bench_${randomBytes(4).toString('hex')}`;
    const app = await Exemplar.open(loadConfig({ DATABASE_URL: BENCH_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema }));
    return {
      app,
      close: async () => {
        await app.close();
        const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
        await c.connect();
        await c.query(`DROP SCHEMA ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_scoped CASCADE`);
        await c.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-'));
  const app = await Exemplar.open(loadConfig({ EXEMPLAR_DATA_DIR: dir }));
  return {
    app,
    close: async () => {
      await app.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const TOPICS = ['python', 'typescript', 'sql', 'git', 'docker', 'bash', 'rust', 'go', 'regex', 'testing'];
const VERBS = ['How do I', 'Why does', 'What is the best way to', 'Can you explain how to', 'Fix this:'];
const TASKS = ['parse a date', 'read a file line by line', 'sort by two keys', 'retry on failure', 'stream a large result', 'mock a network call', 'find a memory leak', 'rebase onto main'];

/** N synthetic examples as JSONL, deterministic for a given seed, about 300 bytes each. */
export function syntheticJsonl(n: number, seed = 1): string {
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const topic = TOPICS[i % TOPICS.length];
    const reward = Math.round(rand() * 100) / 100;
    lines.push(JSON.stringify({
      prompt: `${VERBS[i % VERBS.length]} ${TASKS[(i * 7) % TASKS.length]} in ${topic}? (case ${i})`,
      completion: `In ${topic}, you can ${TASKS[(i * 3) % TASKS.length]} like this: step ${i % 13}, then check the result. Example ${i}: use the standard library first and measure before optimising.`,
      reward_score: reward,
      example_type: reward >= 0.5 ? 'positive' : 'negative',
      metadata: { topic, n: i },
    }));
  }
  return `${lines.join('\n')}\n`;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function fmt(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}
