import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prng } from '../src/datasets/near-dup.ts';
import { HashingEmbeddingV2 } from '../src/embeddings/hashing-v2.ts';
import { FileVectorStore } from '../src/vectors/file-store.ts';
import { VectorTable, type ScanFilter } from '../src/vectors/vector-table.ts';
import { fmt, percentile, syntheticExamples, type SyntheticExample } from './support.ts';

const QUERIES = ['How do I retry on failure in python?', 'sort by two keys in sql', 'rebase onto main in git', 'find a memory leak in rust',
  'parse a date in typescript', 'stream a large result in go', 'mock a network call in testing', 'read a file line by line in bash'];
const STANDARD: ScanFilter = { minReward: 0.5, types: ['positive'], alpha: 0.6, beta: 0.4 };

/** Wall and CPU time of each call, sorted. CPU time says what a search costs on a busy machine. */
async function time(n: number, run: (i: number) => Promise<unknown> | unknown): Promise<{ wall: number[]; cpu: number[] }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await run(i);
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  return { wall: wall.sort((a, b) => a - b), cpu: cpu.sort((a, b) => a - b) };
}

/**
 * Issue 13's memory-backend figures: the in-memory index alone at 100k and 1M rows of 384
 * dimensions. The index is built here, without a database, from the bench's synthetic examples
 * (distinct prompts) through hashing-v2, as sync would build it: a million examples through
 * PGlite's import and sync would add many minutes and measure the database, not the index.
 * Resident memory is the saved index loaded in a fresh process.
 */
export async function benchMemoryScale(): Promise<void> {
  console.log('\n## Memory backend at scale (384 dims, hashing-v2; the index alone, no database)');
  const provider = new HashingEmbeddingV2();
  const rows: string[] = [];
  for (const n of [100_000, 1_000_000]) {
    const t0 = performance.now();
    let table: VectorTable | undefined = new VectorTable(provider.dimensions, n + 1024);
    const batch: SyntheticExample[] = [];
    const flush = async () => {
      const vectors = await provider.embed(batch.map((e) => provider.exampleText(e)));
      batch.forEach((e, i) => table!.upsert({ id: randomUUID(), vector: vectors[i], reward: e.reward_score, type: e.example_type, hash: '' }));
      batch.length = 0;
    };
    for (const e of syntheticExamples(n)) {
      batch.push(e);
      if (batch.length === 10_000) await flush();
    }
    await flush();
    const buildSecs = (performance.now() - t0) / 1000;

    const standard = async (i: number) => {
      const [v] = await provider.embed([`${QUERIES[i % QUERIES.length]} ${i}`]);
      return table!.search(v, 10, STANDARD);
    };
    await time(20, standard); // warm up
    const sparse = await time(300, standard);
    // A dense query (every dimension set, as from an OpenAI or transformers model): the scan reads every code.
    const rand = prng(7);
    const dense = Array.from({ length: 60 }, () => {
      const v = new Float32Array(provider.dimensions).map(() => rand() - 0.5);
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      return v.map((x) => x / norm);
    });
    await time(5, (i) => table!.search(dense[i], 10, STANDARD));
    const denseTimes = await time(dense.length, (i) => table!.search(dense[i], 10, STANDARD));
    const shards = table.shardCount;

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-memory-'));
    let probe: { loadMs?: number; rssBytes?: number; rawBytes?: number } = {};
    try {
      new FileVectorStore(dir).save('bench', table, { model: provider.modelId, watermark: 0 });
      table = undefined; // the probe process holds the only other copy
      const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.resolve('bench/memory-probe.ts'), dir, 'bench'], { encoding: 'utf8' });
      probe = JSON.parse(run.stdout.trim().split('\n').pop() || '{}');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const memory = probe.rssBytes && probe.rawBytes
      ? `${fmt(probe.rssBytes / 1e6, 0)} MB = ${fmt(probe.rssBytes / probe.rawBytes, 2)}x the raw float32 bytes (${fmt(probe.rawBytes / 1e6, 0)} MB)`
      : 'probe failed';
    rows.push(`| ${fmt(n, 0)} | ${fmt(percentile(sparse.wall, 50), 1)} ms | ${fmt(percentile(sparse.wall, 99), 1)} ms | ${fmt(percentile(sparse.cpu, 50), 1)} ms | ` +
      `${fmt(percentile(denseTimes.wall, 50), 1)} ms (CPU ${fmt(percentile(denseTimes.cpu, 50), 1)} ms) | ${memory} | ${fmt(probe.loadMs ?? NaN, 0)} ms | ${fmt(buildSecs, 0)} s | ${shards} |`);
  }
  console.log('Each search: embed the question, then the exact filtered top 10 by α·cosine + β·reward (min_score 0.5, positive: about half the rows; α 0.6, β 0.4), 300 questions. ' +
    'CPU time is the process\'s own, which a busy machine does not inflate as it does wall time. Build: generate the examples, embed them, insert them (1M takes about 3 minutes here).');
  console.log('| examples | search p50 (goal <= 20 ms at 1M) | search p99 | CPU time per search, p50 | a dense query (all 384 dimensions set), p50 | resident memory of the loaded index, fresh process | its load time | build | WASM memories (1 GiB each at most) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}
