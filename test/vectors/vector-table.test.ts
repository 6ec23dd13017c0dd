import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileVectorStore } from '../../src/vectors/file-store.ts';
import { hybridScore, IndexTooLargeError, VectorTable, type RowType, type VectorTableOptions } from '../../src/vectors/vector-table.ts';

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function unit(rand: () => number, dim: number, base?: Float32Array, noise = 1): Float32Array {
  const v = new Float32Array(dim);
  let n = 0;
  for (let i = 0; i < dim; i++) {
    v[i] = (base ? base[i] : 0) + noise * (rand() - 0.5);
    n += v[i] * v[i];
  }
  n = Math.sqrt(n);
  for (let i = 0; i < dim; i++) v[i] /= n;
  return v;
}

interface Row { id: string; vector: Float32Array; reward: number; type: RowType; hash: string }

/** Brute force in float64: the oracle the table must match. */
function oracle(rows: Row[], q: Float32Array, k: number, minReward: number, types: RowType[], alpha: number, beta: number) {
  return rows
    .filter((r) => r.reward >= minReward && types.includes(r.type))
    .map((r) => {
      let s = 0;
      for (let i = 0; i < q.length; i++) s += r.vector[i] * q[i];
      return { id: r.id, hybrid: hybridScore(s, r.reward, alpha, beta), similarity: s };
    })
    .sort((a, b) => b.hybrid - a.hybrid)
    .slice(0, k);
}

describe('VectorTable', () => {
  it('returns exactly the brute-force top k under random filters, weights, updates and deletes', () => {
    for (const dim of [384, 50]) {
      const rand = rng(dim);
      const table = new VectorTable(dim, 16);
      const rows = new Map<string, Row>();
      // Clustered data makes near-ties, the hard case for the int8 first pass.
      const centers = Array.from({ length: 5 }, () => unit(rand, dim));
      for (let i = 0; i < 3000; i++) {
        const r: Row = {
          id: `id-${i}`,
          vector: unit(rand, dim, centers[i % 5], 0.05),
          reward: Math.round(rand() * 100) / 100,
          type: rand() < 0.6 ? 'positive' : 'negative',
          hash: `h${i}`,
        };
        rows.set(r.id, r);
        table.upsert(r);
      }
      for (let i = 0; i < 500; i++) {
        const id = `id-${Math.floor(rand() * 3000)}`;
        if (!rows.has(id)) continue;
        if (rand() < 0.5) {
          rows.delete(id);
          expect(table.delete(id)).toBe(true);
        } else {
          const r = { ...rows.get(id)!, reward: rand(), vector: unit(rand, dim, centers[0], 0.05) };
          rows.set(id, r);
          table.upsert(r);
        }
      }
      expect(table.size).toBe(rows.size);
      for (let trial = 0; trial < 40; trial++) {
        const q = unit(rand, dim, centers[trial % 5], 0.05);
        const k = 1 + Math.floor(rand() * 20);
        const minReward = rand() * 0.8;
        const types: RowType[] = trial % 3 === 0 ? ['positive'] : trial % 3 === 1 ? ['negative'] : ['positive', 'negative'];
        const alpha = rand();
        const beta = 1 - alpha;
        const got = table.search(q, k, { minReward, types, alpha, beta });
        const want = oracle([...rows.values()], q, k, minReward, types, alpha, beta);
        expect(got.length).toBe(want.length);
        got.forEach((g, i) => {
          expect(g.hybrid).toBeCloseTo(want[i].hybrid, 5);
          // Same id, unless two scores tie to float precision.
          if (g.id !== want[i].id) expect(Math.abs(g.hybrid - want[i].hybrid)).toBeLessThan(1e-5);
        });
      }
    }
  });

  it('stays exact when thousands of rows tie within the int8 error (the certified re-score)', () => {
    const rand = rng(99);
    const dim = 384;
    const center = unit(rand, dim);
    const table = new VectorTable(dim);
    const rows: Row[] = [];
    for (let i = 0; i < 4000; i++) {
      const r: Row = { id: `t${i}`, vector: unit(rand, dim, center, 0.002), reward: 0.5, type: 'positive', hash: '' };
      rows.push(r);
      table.upsert(r);
    }
    for (let trial = 0; trial < 10; trial++) {
      const q = unit(rand, dim, center, 0.002);
      const got = table.search(q, 3, { minReward: 0, alpha: 1, beta: 0 });
      const want = oracle(rows, q, 3, 0, ['positive'], 1, 0);
      expect(got.map((g) => g.id)).toEqual(want.map((w) => w.id));
    }
  });

  it('survives growth, keeps ids findable, and saves and loads unchanged', () => {
    const rand = rng(7);
    const table = new VectorTable(8, 16);
    const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    for (let i = 0; i < 100; i++) table.upsert({ id: id(i), vector: unit(rand, 8), reward: i / 100, type: i % 2 ? 'positive' : 'negative', hash: `${i}`.padStart(16, '0') });
    table.delete(id(3));
    expect(table.size).toBe(99);
    expect(table.hashOf(id(42))).toBe('0000000000000042');
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-table-'));
    const store = new FileVectorStore(root);
    store.save('a', table, { model: 'm', watermark: 7 });
    const { table: copy, manifest } = store.load('a')!;
    fs.rmSync(root, { recursive: true, force: true });
    expect(manifest).toMatchObject({ model: 'm', watermark: 7, count: 99, dimensions: 8 });
    expect(copy.idList()).toEqual(table.idList());
    expect(copy.hashOf(id(42))).toBe('0000000000000042');
    const q = unit(rand, 8);
    expect(copy.search(q, 5, { minReward: 0, alpha: 0.6, beta: 0.4 })).toEqual(table.search(q, 5, { minReward: 0, alpha: 0.6, beta: 0.4 }));
    expect(table.search(q, 5, { minReward: 2, alpha: 0.6, beta: 0.4 })).toEqual([]);
  });

  it('rejects vectors of the wrong dimension', () => {
    const table = new VectorTable(4);
    expect(() => table.upsert({ id: 'x', vector: new Float32Array(3), reward: 1, type: 'positive', hash: '' })).toThrow(/3 dimensions/);
  });
});

/** A unit vector with only the given dimensions set: the shape of a hashing-v2 question. */
function sparse(rand: () => number, dim: number, dims: number[]): Float32Array {
  const v = new Float32Array(dim);
  for (const d of dims) v[d] = rand() - 0.5 || 0.1;
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  for (let i = 0; i < dim; i++) v[i] /= n;
  return v;
}

function fill(table: VectorTable, rows: Row[]): void {
  for (const r of rows) table.upsert(r);
}

/** Asserts the table's answer is the oracle's: same scores in order, same ids unless scores tie. */
function expectOracle(table: VectorTable, rows: Row[], q: Float32Array, k: number, minReward: number, types: RowType[], alpha: number, beta: number) {
  const got = table.search(q, k, { minReward, types, alpha, beta });
  const want = oracle(rows, q, k, minReward, types, alpha, beta);
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => {
    expect(Math.abs(g.hybrid - want[i].hybrid)).toBeLessThan(1e-5);
    if (g.id !== want[i].id) expect(Math.abs(g.hybrid - want[i].hybrid)).toBeLessThan(1e-5);
  });
  return got;
}

describe('VectorTable: the block-layout int8 pass', () => {
  it('is exact for sparse queries (only their non-zero dimension pairs are read), dense ones and the zero vector, at every block edge', () => {
    const rand = rng(5);
    const dim = 384;
    // Rows sparse like hashing-v2 examples (a few hundred dimensions set) and some dense ones.
    const rows: Row[] = Array.from({ length: 2100 }, (_, i) => ({
      id: `s${i}`,
      vector: i % 7 === 0 ? unit(rand, dim) : sparse(rand, dim, Array.from({ length: 40 + (i % 200) }, () => Math.floor(rand() * dim))),
      reward: Math.round(rand() * 100) / 100,
      type: rand() < 0.5 ? 'positive' : 'negative',
      hash: '',
    }));
    // 1023, 1024, 1025, 2048 and 2100 rows: the last block empty, full and ragged.
    for (const n of [1, 15, 17, 1023, 1024, 1025, 2048, 2100]) {
      const table = new VectorTable(dim, 16);
      const part = rows.slice(0, n);
      fill(table, part);
      const queries = [
        sparse(rand, dim, [0]), // one dimension: the first pair only
        sparse(rand, dim, [dim - 1]), // the last pair only
        sparse(rand, dim, [2, 3]), // both halves of one pair
        sparse(rand, dim, [1, 2, 5, 6, 9, 100, 383]), // five pairs: a quad and a single
        sparse(rand, dim, Array.from({ length: 20 }, () => Math.floor(rand() * dim))),
        unit(rand, dim),
        new Float32Array(dim), // no similarity at all: reward alone ranks
      ];
      for (const q of queries) {
        for (const k of [1, 10, 50]) expectOracle(table, part, q, k, 0.3, ['positive'], 0.6, 0.4);
        expectOracle(table, part, q, 10, 0, ['positive', 'negative'], 1, 0);
      }
    }
  });

  it('puts every row of the first pass within its error bound of the exact score (the premise of the certificate)', () => {
    const rand = rng(11);
    const dim = 100; // padded to 128: 64 pairs, of which the last 14 are padding
    const table = new VectorTable(dim, 16);
    const rows: Row[] = Array.from({ length: 1500 }, (_, i) => ({ id: `b${i}`, vector: unit(rand, dim), reward: rand(), type: 'positive', hash: '' }));
    fill(table, rows);
    for (let i = 0; i < 300; i++) table.delete(`b${i * 5}`); // rows move between blocks
    const alpha = 0.7;
    const beta = 0.3;
    for (let trial = 0; trial < 5; trial++) {
      const q = trial % 2 ? unit(rand, dim) : sparse(rand, dim, [trial, 50, 51, 99]);
      // Internals on purpose: the first pass's scores are what the certificate reasons about.
      const t = table as unknown as { writeQuery(q: Float32Array): { queryError: number }; parts(): { shard: { layout: { out: number }; memory: WebAssembly.Memory; errors: Float32Array }; n: number; first: number }[] };
      table.search(q, 5, { minReward: 0, alpha, beta });
      const { queryError } = t.writeQuery(q);
      for (const { shard, n, first } of t.parts()) {
        const out = new Float32Array(shard.memory.buffer, shard.layout.out, n);
        for (let r = 0; r < n; r++) {
          const exact = table.rescore(first + r, { alpha, beta }).hybrid;
          const e = shard.errors[r];
          expect(Math.abs(out[r] - exact)).toBeLessThanOrEqual(alpha * (e + (1 + e) * queryError) + 1e-5);
        }
      }
    }
  });

  it('stays exact when every row ties, and breaks ties by row order', () => {
    const rand = rng(3);
    const dim = 64;
    const v = unit(rand, dim);
    const table = new VectorTable(dim, 16);
    const rows: Row[] = Array.from({ length: 3000 }, (_, i) => ({ id: `tie${i}`, vector: v, reward: 0.5, type: 'positive', hash: '' }));
    fill(table, rows);
    const got = table.search(v, 7, { minReward: 0, alpha: 0.6, beta: 0.4 });
    expect(got.map((g) => g.id)).toEqual(rows.slice(0, 7).map((r) => r.id));
    // Scores tie, rewards decide: the best reward wins wherever it sits.
    table.setScore('tie2999', 0.6, 'positive');
    table.setScore('tie1024', 0.55, 'positive');
    expect(table.search(v, 3, { minReward: 0, alpha: 0.6, beta: 0.4 }).map((g) => g.id)).toEqual(['tie2999', 'tie1024', 'tie0']);
  });

  it('stays exact where the int8 bound is loose: one large component hides the rest from the codes', () => {
    const rand = rng(21);
    const dim = 384;
    // Each row: 0.95 on its own spike dimension, the rest spread thin over every dimension, so
    // most of the thin part rounds to 0 in int8 and the per-row error is large.
    const rows: Row[] = Array.from({ length: 2000 }, (_, i) => {
      const v = new Float32Array(dim);
      for (let d = 0; d < dim; d++) v[d] = (rand() - 0.5) * 0.02;
      v[i % dim] = 0.95;
      let n = 0;
      for (const x of v) n += x * x;
      return { id: `l${i}`, vector: v.map((x) => x / Math.sqrt(n)), reward: Math.round(rand() * 10) / 10, type: 'positive', hash: '' };
    });
    const table = new VectorTable(dim, 16);
    fill(table, rows);
    for (let trial = 0; trial < 10; trial++) {
      // A query along the thin parts, away from every spike: the int8 codes see almost none of it.
      const q = new Float32Array(dim);
      rows[trial].vector.forEach((x, d) => (q[d] = Math.abs(x) < 0.5 ? x + (rand() - 0.5) * 0.002 : 0));
      let n = 0;
      for (const x of q) n += x * x;
      const qn = q.map((x) => x / Math.sqrt(n));
      expectOracle(table, rows, qn, 5, 0, ['positive'], 1, 0);
      expectOracle(table, rows, qn, 10, 0.5, ['positive'], 0.6, 0.4);
    }
  });
});

describe('VectorTable: shards', () => {
  // 300 KiB shards hold 1024 rows of 32 dimensions: 5 shards for 4500 rows.
  const small: VectorTableOptions = { maxShardBytes: 300 * 1024 };

  it('spreads rows over several WASM memories and stays exact through growth, updates and deletes across shards', () => {
    const rand = rng(8);
    const dim = 32;
    const table = new VectorTable(dim, 16, small);
    expect(table.rowsPerShard).toBe(1024);
    const rows = new Map<string, Row>();
    const centers = Array.from({ length: 3 }, () => unit(rand, dim));
    for (let i = 0; i < 4500; i++) {
      const r: Row = { id: `r${i}`, vector: unit(rand, dim, centers[i % 3], 0.1), reward: rand(), type: rand() < 0.5 ? 'positive' : 'negative', hash: `${i}` };
      rows.set(r.id, r);
      table.upsert(r);
    }
    expect(table.shardCount).toBe(5);
    for (let trial = 0; trial < 15; trial++) {
      const q = unit(rand, dim, centers[trial % 3], 0.1);
      expectOracle(table, [...rows.values()], q, 1 + trial, rand() * 0.5, trial % 2 ? ['positive'] : ['positive', 'negative'], 0.6, 0.4);
    }
    // Deletes from the first shard pull rows over from the last; updates land in place.
    for (let i = 0; i < 1600; i++) {
      const id = `r${(i * 7) % 4500}`;
      if (rows.delete(id)) expect(table.delete(id)).toBe(true);
    }
    for (let i = 0; i < 200; i++) {
      const r = { ...rows.get([...rows.keys()][i * 3])!, vector: unit(rand, dim, centers[0], 0.1), reward: rand() };
      rows.set(r.id, r);
      table.upsert(r);
    }
    expect(table.size).toBe(rows.size);
    expect(table.shardCount).toBe(Math.ceil(rows.size / 1024)); // emptied shards are let go
    for (const [id, r] of rows) expect(table.vector(table.rowOf(id)!)).toEqual(r.vector);
    for (let trial = 0; trial < 15; trial++) {
      const q = unit(rand, dim, centers[trial % 3], 0.1);
      expectOracle(table, [...rows.values()], q, 10, 0.2, ['positive', 'negative'], 0.8, 0.2);
    }
    // Cosine between rows of different shards.
    const a = 5;
    const b = table.size - 1;
    expect(Math.floor(a / 1024)).not.toBe(Math.floor(b / 1024));
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += table.vector(a)[d] * table.vector(b)[d];
    expect(table.similarityBetween(a, b)).toBeCloseTo(dot, 5);
  });

  it('saves a sharded table and loads it with another shard size, unchanged', () => {
    const rand = rng(9);
    const dim = 32;
    const table = new VectorTable(dim, 16, small);
    const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    for (let i = 0; i < 2500; i++) table.upsert({ id: id(i), vector: unit(rand, dim), reward: rand(), type: i % 3 ? 'positive' : 'negative', hash: `${i}`.padStart(16, '0') });
    expect(table.shardCount).toBe(3);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-shards-'));
    try {
      const store = new FileVectorStore(root);
      store.save('a', table, { model: 'm', watermark: 1 });
      const { table: copy } = store.load('a')!; // the default shard size: one shard
      expect(copy.shardCount).toBe(1);
      expect(copy.idList()).toEqual(table.idList());
      expect(copy.hashOf(id(2499))).toBe('0000000000002499');
      for (let trial = 0; trial < 5; trial++) {
        const q = unit(rand, dim);
        const f = { minReward: 0.1, types: ['positive' as const], alpha: 0.6, beta: 0.4 };
        expect(copy.search(q, 10, f)).toEqual(table.search(q, 10, f));
      }
      // The file does not depend on the shard size: the one-shard table saves the same bytes.
      store.save('b', copy, { model: 'm', watermark: 1 });
      expect(fs.readFileSync(path.join(root, 'a', store.readManifest('a')!.dataFile)).equals(fs.readFileSync(path.join(root, 'b', store.readManifest('b')!.dataFile)))).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses rows past its memory or row limit with IndexTooLargeError naming pgvector, and keeps what it has', () => {
    const rand = rng(10);
    const dim = 32;
    // Room for two full shards and no more.
    const table = new VectorTable(dim, 16, { ...small, maxTotalBytes: 2 * 300 * 1024 + 65536 });
    const rows: Row[] = [];
    let refused: unknown;
    for (let i = 0; i < 3000 && !refused; i++) {
      const r: Row = { id: `m${i}`, vector: unit(rand, dim), reward: rand(), type: 'positive', hash: '' };
      try {
        table.upsert(r);
        rows.push(r);
      } catch (err) {
        refused = err;
      }
    }
    expect(refused).toBeInstanceOf(IndexTooLargeError);
    expect((refused as Error).message).toMatch(/pgvector/);
    expect((refused as Error).message).toMatch(/over the limit/);
    expect(rows.length).toBeGreaterThanOrEqual(1024);
    expect(table.size).toBe(rows.length);
    expect(table.has(`m${rows.length}`)).toBe(false);
    expectOracle(table, rows, unit(rand, dim), 10, 0, ['positive'], 0.6, 0.4);
    // An existing row can still change: it needs no room.
    table.upsert({ ...rows[0], reward: 0.99 });
    expect(table.reward(0)).toBeCloseTo(0.99, 6);

    const capped = new VectorTable(dim, 16, { maxRows: 3 });
    for (let i = 0; i < 3; i++) capped.upsert({ id: `c${i}`, vector: unit(rand, dim), reward: 1, type: 'positive', hash: '' });
    expect(() => capped.upsert({ id: 'c3', vector: unit(rand, dim), reward: 1, type: 'positive', hash: '' })).toThrow(IndexTooLargeError);
    expect(capped.size).toBe(3);
  });

  it('turns the engine refusing a WASM memory into IndexTooLargeError', () => {
    // The machine running out cannot be arranged in a test: V8 refusing the second memory stands in.
    const original = WebAssembly.Memory;
    let calls = 0;
    (WebAssembly as { Memory: unknown }).Memory = function (this: unknown, d: WebAssembly.MemoryDescriptor) {
      if (++calls > 1) throw new RangeError('WebAssembly.Memory(): could not allocate memory');
      return new original(d);
    } as unknown as typeof WebAssembly.Memory;
    try {
      const rand = rng(12);
      const table = new VectorTable(32, 16, small);
      let refused: unknown;
      for (let i = 0; i < 2000 && !refused; i++) {
        try {
          table.upsert({ id: `w${i}`, vector: unit(rand, 32), reward: 1, type: 'positive', hash: '' });
        } catch (err) {
          refused = err;
        }
      }
      expect(refused).toBeInstanceOf(IndexTooLargeError);
      expect((refused as Error).message).toMatch(/could not allocate.*pgvector/);
      expect(table.size).toBe(1024);
    } finally {
      WebAssembly.Memory = original;
    }
  });
});

describe('the WASM kernel', () => {
  it('is the committed build of kernel.wat', async () => {
    const { assembleKernel } = await import('../../scripts/build-wasm.ts');
    const built = Buffer.from(await assembleKernel());
    expect(built.equals(fs.readFileSync('src/vectors/kernel.wasm'))).toBe(true);
  });
});
