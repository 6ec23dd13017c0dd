import fs from 'node:fs';
import { packageFile } from '../package-files.ts';

/**
 * One agent's vectors in memory, laid out for a fast exact scan.
 *
 * Each row holds an example's id, reward, type, content hash and its embedding twice: float32
 * (exact) and int8 with a per-row scale (a quarter of the bytes). A search scans the int8 copy in
 * WASM SIMD, then re-scores exactly in float32 every row that could still be in the top k, using a
 * per-row bound on the int8 error. The result is the exact top k at a fraction of the memory
 * traffic of a float32 scan.
 */

/** The SIMD kernel, compiled on first use: importing this module (for hybridScore) costs nothing. */
let kernelModule: WebAssembly.Module | undefined;
const KERNEL = () => (kernelModule ??= new WebAssembly.Module(fs.readFileSync(packageFile('src/vectors/kernel.wasm'))));

interface Kernel {
  dot_f32(a: number, b: number, dim: number): number;
  histogram(out: number, n: number, lo: number, hi: number, buckets: number, nb: number): void;
  collect(out: number, errors: number, n: number, threshold: number, alpha: number, queryError: number, rowsOut: number): number;
  approx_hybrid(
    rows: number, scales: number, rewards: number, types: number, n: number, dim: number,
    query: number, queryScale: number, out: number, minReward: number, typeMask: number, alpha: number, beta: number,
  ): number;
}

export const TYPE_CODES = { positive: 0, negative: 1 } as const;
export type RowType = keyof typeof TYPE_CODES;
const TYPE_NAMES: RowType[] = ['positive', 'negative'];

export interface ScanFilter {
  minReward: number;
  /** Row types to include; both when omitted. */
  types?: RowType[];
  /** α: weight of similarity (raw cosine, -1..1). */
  alpha: number;
  /** β: weight of reward. */
  beta: number;
}

export interface ScoredRow {
  row: number;
  id: string;
  /** Exact cosine similarity to the query, in [-1, 1]. */
  similarity: number;
  reward: number;
  type: RowType;
  /** α · similarity + β · reward */
  hybrid: number;
}

export interface RowData {
  id: string;
  vector: Float32Array;
  reward: number;
  type: RowType;
  /** Content hash (a 16-hex-digit prefix is enough) of the example the vector was made from, to tell a stale vector. */
  hash: string;
}

const PAGE = 65536;
/** Histogram buckets for picking the first candidates without sorting every score. */
const BUCKETS = 2048;
const align = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * The seed's hybrid score, α · cosine + β · reward, with the raw cosine. Mapping cosine onto [0, 1]
 * first would halve similarity's weight against reward and let reward outrank relevance.
 */
export function hybridScore(similarity: number, reward: number, alpha: number, beta: number): number {
  return alpha * similarity + beta * reward;
}

export class VectorTable {
  /** Dimensions padded to a multiple of 32, the kernel's step. */
  readonly stride: number;
  private capacity = 0;
  private count = 0;
  private ids: string[] = [];
  private hashes: string[] = [];
  private readonly rowById = new Map<string, number>();
  private memory!: WebAssembly.Memory;
  private kernel!: Kernel;
  private layout!: ReturnType<VectorTable['computeLayout']>;

  constructor(
    readonly dimensions: number,
    initialCapacity = 1024,
  ) {
    if (!Number.isInteger(dimensions) || dimensions <= 0) throw new Error(`bad dimensions ${dimensions}`);
    this.stride = align(dimensions, 32);
    this.resize(Math.max(16, initialCapacity));
  }

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.rowById.has(id);
  }

  idAt(row: number): string {
    return this.ids[row];
  }

  rowOf(id: string): number | undefined {
    return this.rowById.get(id);
  }

  /** Every id, in row order (a copy). */
  idList(): string[] {
    return this.ids.slice(0, this.count);
  }

  /** Updates a row's reward and type; its vector stays. Returns whether the row exists. */
  setScore(id: string, reward: number, type: RowType): boolean {
    const row = this.rowById.get(id);
    if (row === undefined) return false;
    this.view().rewards[row] = reward;
    this.view().types[row] = TYPE_CODES[type];
    return true;
  }

  hashOf(id: string): string | undefined {
    const row = this.rowById.get(id);
    return row === undefined ? undefined : this.hashes[row];
  }

  /** Bytes held in WASM memory (vectors, rewards, types and scratch). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  /** Inserts or replaces a row. */
  upsert(r: RowData): void {
    if (r.vector.length !== this.dimensions) {
      throw new Error(`vector for ${r.id} has ${r.vector.length} dimensions, the index has ${this.dimensions}`);
    }
    let row = this.rowById.get(r.id);
    if (row === undefined) {
      if (this.count === this.capacity) this.resize(Math.ceil(this.capacity * 1.25) + 16); // small steps keep memory near 1.25x raw
      row = this.count++;
      this.rowById.set(r.id, row);
      this.ids[row] = r.id;
    }
    this.hashes[row] = r.hash;
    this.view().rewards[row] = r.reward;
    this.view().types[row] = TYPE_CODES[r.type];
    this.writeVector(row, r.vector);
  }

  /** Removes a row by moving the last row into its place. Returns whether it existed. */
  delete(id: string): boolean {
    const row = this.rowById.get(id);
    if (row === undefined) return false;
    const last = this.count - 1;
    if (row !== last) {
      const v = this.view();
      v.f32.copyWithin(row * this.stride, last * this.stride, (last + 1) * this.stride);
      v.i8.copyWithin(row * this.stride, last * this.stride, (last + 1) * this.stride);
      v.scales[row] = v.scales[last];
      v.errors[row] = v.errors[last];
      v.rewards[row] = v.rewards[last];
      v.types[row] = v.types[last];
      this.ids[row] = this.ids[last];
      this.hashes[row] = this.hashes[last];
      this.rowById.set(this.ids[row], row);
    }
    this.ids.length = last;
    this.hashes.length = last;
    this.rowById.delete(id);
    this.count = last;
    return true;
  }

  /** A copy of a row's float32 vector. */
  vector(row: number): Float32Array {
    return this.view().f32.slice(row * this.stride, row * this.stride + this.dimensions);
  }

  reward(row: number): number {
    return this.view().rewards[row];
  }

  type(row: number): RowType {
    return TYPE_NAMES[this.view().types[row]];
  }

  /**
   * The exact top `k` rows by hybrid score among rows passing the filter, best first. Ties break by
   * row order. `query` must be unit length (as every ExemplarEmbedding returns).
   */
  search(query: Float32Array, k: number, filter: ScanFilter): ScoredRow[] {
    if (query.length !== this.dimensions) {
      throw new Error(`query has ${query.length} dimensions, the index has ${this.dimensions}`);
    }
    const n = this.count;
    if (n === 0 || k <= 0) return [];
    const { queryError } = this.writeQuery(query);
    const L = this.layout;
    const typeMask = (filter.types ?? TYPE_NAMES).reduce((m, t) => m | (1 << TYPE_CODES[t]), 0);
    const passed = this.kernel.approx_hybrid(
      L.i8, L.scales, L.rewards, L.types, n, this.stride, L.query16, this.queryScale, L.out,
      filter.minReward, typeMask, filter.alpha, filter.beta,
    );
    if (passed === 0) return [];
    const v = this.view();

    // First pass: about m rows with the best approximate scores (found with a histogram, not a
    // sort), re-scored exactly. Scores range over [−α + min(0, β), α + max(0, β)], give or take the error.
    const m = Math.min(passed, k * 4 + 16);
    const lo = -filter.alpha + Math.min(0, filter.beta) - 0.05;
    const hi = filter.alpha + Math.max(0, filter.beta) + 0.05;
    this.kernel.histogram(L.out, n, lo, hi, L.buckets, BUCKETS);
    let above = 0;
    let b = BUCKETS - 1;
    for (; b > 0; b--) if ((above += v.buckets[b]) >= m) break;
    // Just under bucket b's lower edge (f32 rounding), or below every score when b is 0.
    const start = b === 0 ? lo - 1 : lo + ((b - 0.01) / BUCKETS) * (hi - lo);
    const exact = new Map<number, ScoredRow>();
    const best = new TopScores(k);
    const add = (row: number) => {
      if (exact.has(row)) return;
      const scored = this.rescore(row, filter);
      exact.set(row, scored);
      best.push(scored.hybrid);
    };
    const first = this.kernel.collect(L.out, L.errors, n, start, 0, 0, L.rowsOut);
    for (let i = 0; i < first; i++) add(v.rowsOut[i]);
    // Certify: any row whose approximate score plus its error bound reaches the k-th exact score
    // could belong to the top k, so it is re-scored exactly too. (Below k rows, all passing rows
    // were collected above already.)
    const kth = best.kth();
    if (kth > -Infinity) {
      const more = this.kernel.collect(L.out, L.errors, n, kth, filter.alpha, queryError, L.rowsOut);
      for (let i = 0; i < more; i++) add(v.rowsOut[i]);
    }
    return [...exact.values()].sort((x, y) => y.hybrid - x.hybrid || x.row - y.row).slice(0, k);
  }

  /** Exact scores of the given rows, best first: for searches whose filter only SQL can evaluate. */
  scoreRows(query: Float32Array, rows: number[], filter: Pick<ScanFilter, 'alpha' | 'beta'>): ScoredRow[] {
    this.writeQuery(query);
    return rows.map((row) => this.rescore(row, filter)).sort((x, y) => y.hybrid - x.hybrid || x.row - y.row);
  }

  /** Exact float32 score of one row (for the certified re-score and for callers checking rows). */
  rescore(row: number, filter: Pick<ScanFilter, 'alpha' | 'beta'>): ScoredRow {
    const L = this.layout;
    const similarity = this.kernel.dot_f32(L.f32 + row * this.stride * 4, L.query32, this.stride);
    const reward = this.view().rewards[row];
    return {
      row,
      id: this.ids[row],
      similarity,
      reward,
      type: this.type(row),
      hybrid: hybridScore(similarity, reward, filter.alpha, filter.beta),
    };
  }

  /** Cosine of two stored rows (for MMR and near-duplicate checks). */
  similarityBetween(a: number, b: number): number {
    const L = this.layout;
    return this.kernel.dot_f32(L.f32 + a * this.stride * 4, L.f32 + b * this.stride * 4, this.stride);
  }

  /** Every row, for persistence. */
  *rows(): Generator<RowData> {
    for (let row = 0; row < this.count; row++) {
      yield { id: this.ids[row], vector: this.vector(row), reward: this.reward(row), type: this.type(row), hash: this.hashes[row] };
    }
  }

  /** Raw columns, for a fast binary save; `restore` takes the same shape. */
  columns(): { ids: string[]; hashes: string[]; rewards: Float32Array; types: Uint8Array; f32: Float32Array; i8: Int8Array; scales: Float32Array; errors: Float32Array } {
    const v = this.view();
    const n = this.count;
    return {
      ids: this.ids.slice(0, n),
      hashes: this.hashes.slice(0, n),
      rewards: v.rewards.subarray(0, n),
      types: v.types.subarray(0, n),
      f32: v.f32.subarray(0, n * this.stride),
      i8: v.i8.subarray(0, n * this.stride),
      scales: v.scales.subarray(0, n),
      errors: v.errors.subarray(0, n),
    };
  }

  /**
   * For loading from disk without a second copy: an empty table with room for `n` rows whose
   * columns are byte views of its WASM memory, to be filled in place, then `commit`ted with the ids.
   */
  static forLoad(dimensions: number, n: number): {
    table: VectorTable;
    columns: Record<'rewards' | 'types' | 'scales' | 'errors' | 'f32' | 'i8', Uint8Array>;
    commit(ids: string[], hashes: string[]): void;
  } {
    const table = new VectorTable(dimensions, n + 1024);
    const v = table.view();
    const bytes = (a: Float32Array | Int8Array | Uint8Array, count: number) => new Uint8Array(a.buffer, a.byteOffset, count * a.BYTES_PER_ELEMENT);
    return {
      table,
      columns: {
        rewards: bytes(v.rewards, n),
        types: bytes(v.types, n),
        scales: bytes(v.scales, n),
        errors: bytes(v.errors, n),
        f32: bytes(v.f32, n * table.stride),
        i8: bytes(v.i8, n * table.stride),
      },
      commit(ids: string[], hashes: string[]) {
        table.ids = ids;
        table.hashes = hashes;
        ids.forEach((id, row) => table.rowById.set(id, row));
        table.count = n;
      },
    };
  }

  private queryScale = 0;

  /** Writes the query as float32 and as int16-widened int8; returns its quantisation error norm. */
  private writeQuery(query: Float32Array): { queryError: number } {
    const v = this.view();
    v.query32.fill(0);
    v.query32.set(query);
    const { scale, error } = quantise(query, v.query16);
    this.queryScale = scale;
    return { queryError: error };
  }

  private writeVector(row: number, vector: Float32Array): void {
    const v = this.view();
    const at = row * this.stride;
    v.f32.fill(0, at, at + this.stride);
    v.f32.set(vector, at);
    const q = v.i8.subarray(at, at + this.stride);
    q.fill(0);
    const { scale, error } = quantise(vector, q);
    v.scales[row] = scale;
    v.errors[row] = error;
  }

  private computeLayout(capacity: number) {
    let offset = 0;
    const take = (bytes: number) => {
      const at = offset;
      offset = align(offset + bytes, 64);
      return at;
    };
    const layout = {
      f32: take(capacity * this.stride * 4),
      i8: take(capacity * this.stride),
      scales: take(capacity * 4),
      errors: take(capacity * 4),
      rewards: take(capacity * 4),
      types: take(capacity),
      out: take(capacity * 4),
      rowsOut: take(capacity * 4),
      buckets: take(BUCKETS * 4),
      query32: take(this.stride * 4),
      query16: take(this.stride * 2),
      bytes: 0,
    };
    layout.bytes = offset;
    return layout;
  }

  private views?: ReturnType<VectorTable['makeViews']>;

  private makeViews() {
    const b = this.memory.buffer;
    const L = this.layout;
    const c = this.capacity;
    return {
      f32: new Float32Array(b, L.f32, c * this.stride),
      i8: new Int8Array(b, L.i8, c * this.stride),
      scales: new Float32Array(b, L.scales, c),
      errors: new Float32Array(b, L.errors, c),
      rewards: new Float32Array(b, L.rewards, c),
      types: new Uint8Array(b, L.types, c),
      out: new Float32Array(b, L.out, c),
      rowsOut: new Int32Array(b, L.rowsOut, c),
      buckets: new Int32Array(b, L.buckets, BUCKETS),
      query32: new Float32Array(b, L.query32, this.stride),
      query16: new Int16Array(b, L.query16, this.stride),
    };
  }

  private view() {
    return (this.views ??= this.makeViews());
  }

  /** Moves everything into a new, larger WASM memory. */
  private resize(capacity: number): void {
    const old = this.views;
    const n = this.count;
    this.capacity = capacity;
    this.layout = this.computeLayout(capacity);
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(this.layout.bytes / PAGE) });
    this.kernel = new WebAssembly.Instance(KERNEL(), { env: { memory: this.memory } }).exports as unknown as Kernel;
    this.views = undefined;
    if (old) {
      const v = this.view();
      v.f32.set(old.f32.subarray(0, n * this.stride));
      v.i8.set(old.i8.subarray(0, n * this.stride));
      v.scales.set(old.scales.subarray(0, n));
      v.errors.set(old.errors.subarray(0, n));
      v.rewards.set(old.rewards.subarray(0, n));
      v.types.set(old.types.subarray(0, n));
    }
  }
}

/**
 * Symmetric int8 quantisation with one scale: out[i] = round(v[i] / scale), scale = max|v| / 127.
 * Returns the scale and the exact L2 norm of the rounding error, which bounds the scan's error.
 */
function quantise(v: Float32Array, out: Int8Array | Int16Array): { scale: number; error: number } {
  let max = 0;
  for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i]));
  if (max === 0) return { scale: 0, error: 0 };
  const scale = max / 127;
  let err = 0;
  for (let i = 0; i < v.length; i++) {
    const q = Math.round(v[i] / scale);
    out[i] = q;
    const d = v[i] - q * scale;
    err += d * d;
  }
  return { scale, error: Math.sqrt(err) };
}

/** The k largest scores seen so far (a min-heap); `kth()` is the k-th largest, or -inf. */
class TopScores {
  private readonly heap: number[] = [];
  constructor(private readonly k: number) {}

  kth(): number {
    return this.heap.length < this.k ? -Infinity : this.heap[0];
  }

  push(score: number): void {
    const h = this.heap;
    if (h.length < this.k) {
      h.push(score);
      for (let i = h.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (h[p] <= h[i]) break;
        [h[p], h[i]] = [h[i], h[p]];
        i = p;
      }
      return;
    }
    if (score <= h[0]) return;
    h[0] = score;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let s = i;
      if (l < h.length && h[l] < h[s]) s = l;
      if (r < h.length && h[r] < h[s]) s = r;
      if (s === i) return;
      [h[s], h[i]] = [h[i], h[s]];
      i = s;
    }
  }
}
