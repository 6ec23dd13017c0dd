import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileVectorStore } from '../../src/vectors/file-store.ts';
import { hybridScore, VectorTable, type RowType } from '../../src/vectors/vector-table.ts';

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

describe('the WASM kernel', () => {
  it('is the committed build of kernel.wat', async () => {
    const { assembleKernel } = await import('../../scripts/build-wasm.ts');
    const built = Buffer.from(await assembleKernel());
    expect(built.equals(fs.readFileSync('src/vectors/kernel.wasm'))).toBe(true);
  });
});
