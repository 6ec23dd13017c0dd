import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/config.ts';
import { prng } from '../src/datasets/near-dup.ts';
import { Exemplar } from '../src/exemplar.ts';

export const BENCH_DATABASE_URL = process.env.EXEMPLAR_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Opens Exemplar on a throwaway database of the given kind; `close` removes it. */
export async function openBenchApp(kind: 'pglite' | 'postgres', env: Record<string, string> = {}): Promise<{ app: Exemplar; close(): Promise<void> }> {
  if (kind === 'postgres') {
    const schema = `exemplar_bench_${randomBytes(4).toString('hex')}`;
    const app = await Exemplar.open(loadConfig({ ...env, DATABASE_URL: BENCH_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema }));
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

/** The words of the demo's 331 hand-written examples: a coding assistant's real vocabulary. */
const VOCABULARY = [...new Set(fs.readFileSync(new URL('../data/demo/coding-assistant.jsonl', import.meta.url), 'utf8').toLowerCase().match(/[a-z][a-z0-9_]{2,}/g) ?? [])].sort();

/**
 * N synthetic examples as JSONL, deterministic for a seed: prompts of 6 to 14 and completions of
 * 20 to 60 words drawn from the demo's vocabulary, every prompt distinct, rewards uniform (type:
 * positive from 0.5). About 450 bytes an example.
 */
export function syntheticJsonl(n: number, seed = 1): string {
  const lines: string[] = [];
  for (const example of syntheticExamples(n, seed)) lines.push(JSON.stringify(example));
  return `${lines.join('\n')}\n`;
}

export interface SyntheticExample {
  prompt: string;
  completion: string;
  reward_score: number;
  example_type: 'positive' | 'negative';
  metadata: { n: number };
}

/** The examples of `syntheticJsonl`, one at a time: a million of them as one JSONL string would not fit in a JS string. */
export function* syntheticExamples(n: number, seed = 1): Generator<SyntheticExample> {
  const rand = prng(seed);
  const words = (min: number, max: number) => Array.from({ length: min + Math.floor(rand() * (max - min + 1)) }, () => VOCABULARY[Math.floor(rand() * VOCABULARY.length)]).join(' ');
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    let prompt = words(6, 14);
    while (seen.has(prompt)) prompt = words(6, 14);
    seen.add(prompt);
    const reward = Math.round(rand() * 100) / 100;
    yield {
      prompt,
      completion: words(20, 60),
      reward_score: reward,
      example_type: reward >= 0.5 ? 'positive' : 'negative',
      metadata: { n: i },
    };
  }
}

const TOPICS = ['python', 'typescript', 'sql', 'git', 'docker', 'bash', 'rust', 'go', 'regex', 'testing'];
const VERBS = ['How do I', 'Why does', 'What is the best way to', 'Can you explain how to', 'Fix this:'];
const TASKS = ['parse a date', 'read a file line by line', 'sort by two keys', 'retry on failure', 'stream a large result', 'mock a network call', 'find a memory leak', 'rebase onto main'];

/**
 * N near-identical examples as JSONL: one template with numbers changed, so most pairs sit just
 * below the near-duplicate threshold. The hard case for the dataset builder's near-duplicate
 * search, on purpose; every other benchmark uses `syntheticJsonl`.
 */
export function templatedJsonl(n: number, seed = 1): string {
  const rand = prng(seed);
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

/** A running `exemplar serve` of the benchmarks, in its own process. */
export interface BenchServer {
  url: string;
  process: ChildProcess;
  /** SIGTERM, then waits for it to exit (nothing if it already has). */
  stop(): Promise<void>;
}

/**
 * Starts `exemplar serve` on a random port with `env` and resolves once it says it is serving.
 * `onStderr` sees everything it writes to stderr (its request log and errors).
 */
export async function startServer(env: Record<string, string>, onStderr?: (text: string) => void): Promise<BenchServer> {
  const port = 18_000 + Math.floor(Math.random() * 7000);
  const child = spawn(process.execPath, [path.resolve('bin/exemplar.js'), 'serve', '--port', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      if (text.includes('serving')) resolve();
      onStderr?.(text);
    });
    child.once('exit', (code) => reject(new Error(`exemplar serve exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
