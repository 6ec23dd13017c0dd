import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { prng } from '../src/datasets/near-dup.ts';
import { loadConfig } from '../src/config/config.ts';
import { Exemplar } from '../src/exemplar.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { BENCH_DATABASE_URL, fmt, percentile, syntheticJsonl, startServer } from './support.ts';


/**
 * Issue 12's figures, against `exemplar serve` in its own process:
 * - the server's peak resident memory while it answers each request that tests a limit;
 * - a mixed load on PostgreSQL (70% search, 20% add, 10% list) from 32 clients, and a check that
 *   every write the server acknowledged is in the database afterwards.
 */
export async function benchLoad(n = 10_000, clients = 32, seconds = Number(process.env.BENCH_LOAD_SECONDS ?? 60)): Promise<void> {
  if (process.env.BENCH_LOAD_ONLY !== "mixed") await limitMemory("pglite", n);
  if (process.env.BENCH_LOAD_ONLY !== "mixed") await limitMemory("postgres", n);
  await mixedLoad(n, clients, seconds);
}

interface Served {
  url: string;
  key: string;
  readKey: string;
  process: ChildProcess;
  serverErrors: string[];
  stop(): Promise<void>;
}

/** A server on a fresh database holding `n` synthetic examples of agent "bench". */
async function serve(kind: 'pglite' | 'postgres', n: number, extraEnv: Record<string, string> = {}): Promise<Served> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-load-'));
  const schema = `exemplar_bench_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    EXEMPLAR_DATA_DIR: dir,
    DATABASE_URL: kind === 'postgres' ? BENCH_DATABASE_URL : '',
    EXEMPLAR_DB_SCHEMA: kind === 'postgres' ? schema : 'public',
    ...extraEnv,
  };
  const app = await Exemplar.open(loadConfig(env));
  await app.agents.create({ name: 'bench' }, 'bench');
  await importExamples(app.examples, 'bench', syntheticJsonl(n), 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
  await app.syncTrainingDataToVectorStore('bench');
  const key = (await app.apiKeys.create({ scopes: ['admin'] }, 'bench')).key;
  const readKey = (await app.apiKeys.create({ scopes: ['read:bench'] }, 'bench')).key;
  await app.close();
  const serverErrors: string[] = [];
  // What the server logged about failures, so the bench can say what an error was.
  const server = await startServer(env, (text) => {
    for (const line of text.split('\n')) if (/failed|error/i.test(line) && serverErrors.length < 20) serverErrors.push(line.slice(0, 300));
  });
  return {
    url: server.url,
    key,
    readKey,
    process: server.process,
    serverErrors,
    stop: async () => {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      if (kind === 'postgres') {
        const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_scoped CASCADE`);
        await c.end();
      }
    },
  };
}

/** Resident memory now and at its peak, from /proc; writing 5 to clear_refs resets the peak (Linux). */
function rss(pid: number): { now: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function limitMemory(kind: 'pglite' | 'postgres', n: number): Promise<void> {
  const server = await serve(kind, n);
  const pid = server.process.pid!;
  const big = 'x'.repeat(200 * 1024 * 1024);
  const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
  const requests: { what: string; send(): Promise<Response> }[] = [
    { what: '200 MB POST /healthz, no key', send: () => fetch(`${server.url}/healthz`, { method: 'POST', body: big }) },
    { what: '200 MB POST /v1/agents/bench/examples, read key', send: () => post(server, '/v1/agents/bench/examples', big, server.readKey) },
    { what: "run_sql: SELECT repeat('x', 1048576) FROM generate_series(1, 10000), rowLimit 10000", send: () => post(server, '/v1/sql', JSON.stringify({ sql: "SELECT repeat('x', 1048576) AS s FROM generate_series(1, 10000)", rowLimit: 10_000 }), server.readKey) },
    { what: 'run_sql: SELECT count(*) FROM generate_series(1, (SELECT 100000000))', send: () => post(server, '/v1/sql', JSON.stringify({ sql: 'SELECT count(*) FROM generate_series(1, (SELECT 100000000))' }), server.readKey) },
    { what: 'metadata of 10 MB', send: () => post(server, '/v1/agents/bench/examples', JSON.stringify({ prompt: 'p', completion: 'c', rewardScore: 1, exampleType: 'positive', metadata: { blob: 'x'.repeat(10 * 1024 * 1024) } }), server.key) },
    { what: 'metadata nested 10,000 deep', send: () => post(server, '/v1/agents/bench/examples', `{"prompt":"p","completion":"c","rewardScore":1,"exampleType":"positive","metadata":${deep}}`, server.key) },
    { what: 'a NUL character in a prompt', send: () => post(server, '/v1/agents/bench/examples', JSON.stringify({ prompt: 'a\u0000b', completion: 'c', rewardScore: 1, exampleType: 'positive' }), server.key) },
  ];
  console.log(`\n### Peak resident memory of the server per limit-testing request (${kind === 'pglite' ? 'PGlite' : 'PostgreSQL'}, ${fmt(n, 0)} examples; the peak is reset before each request)`);
  console.log('| request | answer | server RSS before | peak while answering |');
  console.log('|---|---|---|---|');
  try {
    for (const r of requests) {
      fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
      const before = rss(pid).now;
      let answer: string;
      try {
        const res = await r.send();
        const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
        answer = `${res.status}${body.error?.code ? ` ${body.error.code}` : ''}`;
      } catch (err) {
        answer = `connection closed (${(err as Error).message})`;
      }
      console.log(`| ${r.what} | ${answer} | ${fmt(before, 0)} MB | ${fmt(rss(pid).peak, 0)} MB |`);
    }
  } finally {
    await server.stop();
  }
}

function post(server: Served, route: string, body: string, key: string): Promise<Response> {
  return fetch(`${server.url}${route}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
}

async function mixedLoad(n: number, clients: number, seconds: number): Promise<void> {
  // No rate limit: this measures the server, with every client on one key.
  const server = await serve('postgres', n, { EXEMPLAR_RATE_LIMIT_SEARCH: '0' });
  const words = syntheticJsonl(200, 7).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { prompt: string }).prompt);
  const latencies: Record<'search' | 'add' | 'list', number[]> = { search: [], add: [], list: [] };
  const errors: Record<string, number> = {};
  const acknowledged: string[] = [];
  const end = performance.now() + seconds * 1000;
  const auth = { authorization: `Bearer ${server.key}`, 'content-type': 'application/json' };
  try {
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const rand = prng(1000 + c);
        let i = 0;
        while (performance.now() < end) {
          const roll = rand();
          const kind = roll < 0.7 ? 'search' : roll < 0.9 ? 'add' : 'list';
          const prompt = `load ${c}-${i++}: ${words[Math.floor(rand() * words.length)]}`;
          const started = performance.now();
          try {
            const res =
              kind === 'search'
                ? await fetch(`${server.url}/v1/agents/bench/search`, { method: 'POST', headers: auth, body: JSON.stringify({ query: words[Math.floor(rand() * words.length)], topK: 5 }) })
                : kind === 'add'
                  ? await fetch(`${server.url}/v1/agents/bench/examples`, { method: 'POST', headers: auth, body: JSON.stringify({ prompt, completion: `answer ${c}-${i}`, rewardScore: Math.round(rand() * 100) / 100, exampleType: 'positive' }) })
                  : await fetch(`${server.url}/v1/agents/bench/examples?limit=20`, { headers: auth });
            await res.arrayBuffer();
            if (res.ok) {
              latencies[kind].push(performance.now() - started);
              if (kind === 'add') acknowledged.push(prompt);
            } else errors[`${kind} ${res.status}`] = (errors[`${kind} ${res.status}`] ?? 0) + 1;
          } catch (err) {
            errors[`${kind} ${(err as Error).message}`] = (errors[`${kind} ${(err as Error).message}`] ?? 0) + 1;
          }
        }
      }),
    );
    const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
    await c.connect();
    const schema = (await c.query<{ s: string }>(`SELECT nspname AS s FROM pg_namespace WHERE nspname LIKE 'exemplar_bench_%' AND nspname NOT LIKE '%_scoped' ORDER BY oid DESC LIMIT 1`)).rows[0].s;
    const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.training_examples WHERE prompt = ANY($1)`, [acknowledged]);
    await c.end();
    const all = [...latencies.search, ...latencies.add, ...latencies.list].sort((a, b) => a - b);
    const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
    console.log(`\n### Mixed load on PostgreSQL (${fmt(n, 0)} examples, ${clients} clients back to back for ${seconds} s: 70% search, 20% add, 10% list; REST, one server process)`);
    console.log('| calls | req/s | p50 | p99 | errors |');
    console.log('|---|---|---|---|---|');
    console.log(`| all | ${fmt(all.length / seconds, 0)} | ${fmt(percentile(all, 50), 1)} ms | ${fmt(percentile(all, 99), 1)} ms | ${errorCount}${errorCount ? ` (${Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''} |`);
    for (const kind of ['search', 'add', 'list'] as const) {
      const s = latencies[kind].sort((a, b) => a - b);
      console.log(`| ${kind} | ${fmt(s.length / seconds, 0)} | ${fmt(percentile(s, 50), 1)} ms | ${fmt(percentile(s, 99), 1)} ms | |`);
    }
    console.log(`Acknowledged writes found in the database afterwards: ${fmt(Number(rows[0].n), 0)} of ${fmt(acknowledged.length, 0)}.`);
    if (server.serverErrors.length) console.log(`The server logged: ${[...new Set(server.serverErrors)].join(' / ')}`);
  } finally {
    await server.stop();
  }
}
