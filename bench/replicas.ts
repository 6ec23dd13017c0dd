import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/config.ts';
import { Exemplar } from '../src/exemplar.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { BENCH_DATABASE_URL, fmt, percentile, startServer, syntheticJsonl, type BenchServer } from './support.ts';


/**
 * Issue 13's figure: two `exemplar serve` replicas on one PostgreSQL schema, memory backend. Each of
 * `writes` examples is added through replica A's REST; the time runs from the request until replica
 * B's search returns it first (polled every 5 ms), i.e. A's insert, the NOTIFY, B's feed read,
 * embedding and index update, and one search round trip.
 */
export async function benchReplicas(n = 2000, writes = 50): Promise<void> {
  const schema = `exemplar_bench_${randomBytes(4).toString('hex')}`;
  const base = { ...(process.env as Record<string, string>), DATABASE_URL: BENCH_DATABASE_URL, EXEMPLAR_DB_SCHEMA: schema, EXEMPLAR_VECTOR_BACKEND: 'memory' };
  const dirs: string[] = [];
  const dir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-replica-'));
    dirs.push(d);
    return d;
  };
  const setup = await Exemplar.open(loadConfig({ ...base, EXEMPLAR_DATA_DIR: dir() }));
  await setup.agents.create({ name: 'bench' }, 'bench');
  await importExamples(setup.examples, 'bench', syntheticJsonl(n), 'bench', { format: 'jsonl' }, setup.config.maxTextBytes);
  const key = (await setup.apiKeys.create({ scopes: ['admin'] }, 'bench')).key;
  await setup.close();
  const replicas: BenchServer[] = [];
  try {
    const [a, b] = await Promise.all(['a', 'b'].map(async () => {
      const replica = await startServer({ ...base, EXEMPLAR_DATA_DIR: dir() });
      replicas.push(replica);
      return replica.url;
    }));
    const post = async (url: string, body: unknown) => {
      const res = await fetch(url, { method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<{ results?: { input: string }[] }>;
    };
    const search = (url: string, query: string) => post(`${url}/v1/agents/bench/search`, { query, topK: 1 });
    await Promise.all([search(a, 'warm up'), search(b, 'warm up')]);
    const ms: number[] = [];
    for (let i = 0; i < writes; i++) {
      const prompt = `replica bench ${i} ${randomBytes(6).toString('hex')} quartz zebra`;
      const t0 = performance.now();
      await post(`${a}/v1/agents/bench/examples`, { prompt, completion: 'c', rewardScore: 0.9, exampleType: 'positive' });
      for (;;) {
        if ((await search(b, prompt)).results?.[0]?.input === prompt) break;
        if (performance.now() - t0 > 10_000) throw new Error(`write ${i} not searchable on the other replica after 10 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      ms.push(performance.now() - t0);
    }
    ms.sort((x, y) => x - y);
    console.log(`\n## Two replicas on PostgreSQL (memory backend, ${fmt(n, 0)} examples)`);
    console.log(`insert-to-searchable on the other replica (REST add on A until B's search returns it first), ${writes} writes: p50 ${fmt(percentile(ms, 50))} ms, p95 ${fmt(percentile(ms, 95))} ms, max ${fmt(ms[ms.length - 1])} ms (goal: p95 <= 1000 ms)`);
  } finally {
    for (const replica of replicas) await replica.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_scoped CASCADE`);
    await c.end();
  }
}
