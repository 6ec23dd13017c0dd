import fs from 'node:fs';
import { ExemplarError } from '../errors.ts';
import { packageFile } from '../package-files.ts';

/**
 * One agent's vectors in memory, laid out for a fast exact scan.
 *
 * Each row holds an example's id, reward, type, content hash and its embedding twice: float32
 * (exact) and int8 with a per-row scale (a quarter of the bytes). A search scans the int8 codes in
 * WASM SIMD, then re-scores exactly in float32 every row that could still be in the top k, using a
 * per-row bound on the int8 error. The result is the exact top k at a fraction of the memory
 * traffic of a float32 scan.
 *
 * The codes are stored by blocks of 1024 rows and pairs of dimensions (see kernel.wat), so a scan
 * reads only the dimensions where the query is not zero: a hashing-v2 question sets 15 to 30 of
 * its 384 (about 20 of the 192 pairs), and the scan of a million rows reads ~40 MB of codes instead
 * of 384 MB.
 *
 * A WASM memory stops at 4 GiB (2.2M rows of 384 dimensions, 275k of 3072), so a table is split
 * into shards of at most `maxShardBytes` (1 GiB by default), each its own memory and kernel
 * instance. Rows are numbered across shards: row r lives in shard floor(r / rowsPerShard).
 */

/** The SIMD kernel, compiled on first use: importing this module (for hybridScore) costs nothing. */
let kernelModule: WebAssembly.Module | undefined;
const KERNEL = () => (kernelModule ??= new WebAssembly.Module(fs.readFileSync(packageFile('src/vectors/kernel.wasm'))));

interface Kernel {
  dot_f32(a: number, b: number, dim: number): number;
  histogram(out: number, n: number, lo: number, hi: number, buckets: number, nb: number): void;
  collect(out: number, errors: number, n: number, threshold: number, alpha: number, queryError: number, rowsOut: number): number;
  approx_hybrid(
    codes: number, scales: number, rewards: number, types: number, n: number, stride: number, blockShift: number,
    pairs: number, npairs: number, queryScale: number, out: number, maxes: number, acc: number, minReward: number, typeMask: number, alpha: number, beta: number,
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


export interface VectorTableOptions {
  /** Largest WASM memory of one shard, in bytes (default 1 GiB; WASM stops at 4 GiB). */
  maxShardBytes?: number;
  /** Most bytes all shards together may hold (default: no limit but the machine's). */
  maxTotalBytes?: number;
  /** Most rows (default 2^24 - 1, the most a JS Map holds). */
  maxRows?: number;
}

/** The index would not fit in memory (or past a configured limit): such an agent belongs in pgvector. */
export class IndexTooLargeError extends ExemplarError {
  readonly code = 'index_too_large';
  // The server's memory, not the request, is what ran out: the message says to move the agent to pgvector.
  readonly status = 507;
}

const PAGE = 65536;
/**
 * Rows per block of the int8 codes (see kernel.wat): 2^BLOCK_SHIFT. A shard's capacity is whole
 * blocks, so this is also the smallest table (about 2 MB at 384 dimensions, as before blocks).
 */
const BLOCK_SHIFT = 10;
const BLOCK = 2 ** BLOCK_SHIFT;
/** Histogram buckets for picking the first candidates without sorting every score. */
const BUCKETS = 2048;
const DEFAULT_SHARD_BYTES = 2 ** 30;
const MAX_WASM_BYTES = 2 ** 32 - PAGE;
const MAX_ROWS = 2 ** 24 - 1;
/** Below every finite float32 score: a threshold that collects every row that passed the filter. */
const BELOW_ALL = -3.4e38;
const align = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * The seed's hybrid score, α · cosine + β · reward, with the raw cosine. Mapping cosine onto [0, 1]
 * first would halve similarity's weight against reward and let reward outrank relevance.
 */
export function hybridScore(similarity: number, reward: number, alpha: number, beta: number): number {
  return alpha * similarity + beta * reward;
}

/** Where each column of a shard lives in its memory, for `capacity` rows (a multiple of BLOCK). */
function shardLayout(stride: number, capacity: number) {
  let offset = 0;
  const take = (bytes: number) => {
    const at = offset;
    offset = align(offset + bytes, 64);
    return at;
  };
  const layout = {
    f32: take(capacity * stride * 4),
    codes: take(capacity * stride),
    scales: take(capacity * 4),
    errors: take(capacity * 4),
    rewards: take(capacity * 4),
    types: take(capacity),
    out: take(capacity * 4),
    /** The best score of each group of 16 rows. */
    maxes: take(capacity / 4),
    rowsOut: take(capacity * 4),
    /** The int8 pass's sums for one block. */
    acc: take(BLOCK * 4),
    buckets: take(BUCKETS * 4),
    query32: take(stride * 4),
    /** A second row, copied in from another shard, for similarityBetween. */
    other32: take(stride * 4),
    /** The query's non-zero dimension pairs: (byte offset in a block, two int16) each. */
    pairs: take((stride / 2) * 8),
    bytes: 0,
  };
  layout.bytes = offset;
  return layout;
}

/** One WASM memory and its kernel: rows [first, first + capacity) of the table. */
class Shard {
  readonly memory: WebAssembly.Memory;
  readonly kernel: Kernel;
  readonly layout: ReturnType<typeof shardLayout>;
  readonly f32: Float32Array;
  readonly codes: Int8Array;
  readonly scales: Float32Array;
  readonly errors: Float32Array;
  readonly rewards: Float32Array;
  readonly types: Uint8Array;
  readonly rowsOut: Int32Array;
  readonly buckets: Int32Array;
  readonly query32: Float32Array;
  readonly other32: Float32Array;
  readonly pairs: Int32Array;

  constructor(
    readonly stride: number,
    readonly capacity: number,
    memory: WebAssembly.Memory,
  ) {
    this.layout = shardLayout(stride, capacity);
    this.memory = memory;
    this.kernel = new WebAssembly.Instance(KERNEL(), { env: { memory } }).exports as unknown as Kernel;
    const b = memory.buffer;
    const L = this.layout;
    this.f32 = new Float32Array(b, L.f32, capacity * stride);
    this.codes = new Int8Array(b, L.codes, capacity * stride);
    this.scales = new Float32Array(b, L.scales, capacity);
    this.errors = new Float32Array(b, L.errors, capacity);
    this.rewards = new Float32Array(b, L.rewards, capacity);
    this.types = new Uint8Array(b, L.types, capacity);
    this.rowsOut = new Int32Array(b, L.rowsOut, capacity);
    this.buckets = new Int32Array(b, L.buckets, BUCKETS);
    this.query32 = new Float32Array(b, L.query32, stride);
    this.other32 = new Float32Array(b, L.other32, stride);
    this.pairs = new Int32Array(b, L.pairs, stride);
  }

  /** Index in `codes` of dimension pair p of local row r (the even dimension; the odd one follows). */
  codeAt(r: number, p: number): number {
    return (r >> BLOCK_SHIFT) * BLOCK * this.stride + p * 2 * BLOCK + (r & (BLOCK - 1)) * 2;
  }

  /** Copies local row `from` of shard `src` into local row `to` of this shard. */
  copyRow(src: Shard, from: number, to: number): void {
    const s = this.stride;
    this.f32.set(src.f32.subarray(from * s, (from + 1) * s), to * s);
    for (let p = 0; p < s / 2; p++) {
      const a = src.codeAt(from, p);
      const b = this.codeAt(to, p);
      this.codes[b] = src.codes[a];
      this.codes[b + 1] = src.codes[a + 1];
    }
    this.scales[to] = src.scales[from];
    this.errors[to] = src.errors[from];
    this.rewards[to] = src.rewards[from];
    this.types[to] = src.types[from];
  }
}

export class VectorTable {
  /** Dimensions padded to a multiple of 32, the kernel's step. */
  readonly stride: number;
  /** Rows one shard holds when full (whole blocks). */
  readonly rowsPerShard: number;
  private readonly maxTotalBytes: number;
  private readonly maxRows: number;
  private shards: Shard[] = [];
  private count = 0;
  private ids: string[] = [];
  private hashes: string[] = [];
  private readonly rowById = new Map<string, number>();
  /** The query as int8 values widened to int16, and its non-zero pairs, before they go to the shards. */
  private readonly query16: Int16Array;
  private queryScale = 0;
  private queryPairs = 0;

  constructor(
    readonly dimensions: number,
    initialCapacity = 1024,
    options: VectorTableOptions = {},
  ) {
    if (!Number.isInteger(dimensions) || dimensions <= 0) throw new Error(`bad dimensions ${dimensions}`);
    this.stride = align(dimensions, 32);
    this.query16 = new Int16Array(this.stride);
    const shardBytes = Math.min(options.maxShardBytes ?? DEFAULT_SHARD_BYTES, MAX_WASM_BYTES);
    const fixed = shardLayout(this.stride, 0).bytes + 64 * 14; // + alignment of each column
    const perRow = shardLayout(this.stride, BLOCK).bytes - shardLayout(this.stride, 0).bytes;
    this.rowsPerShard = Math.floor((shardBytes - fixed) / perRow) * BLOCK;
    if (this.rowsPerShard < BLOCK) {
      throw new Error(`a shard of ${shardBytes} bytes cannot hold ${BLOCK} rows of ${dimensions} dimensions`);
    }
    this.maxTotalBytes = options.maxTotalBytes ?? Infinity;
    this.maxRows = Math.min(options.maxRows ?? MAX_ROWS, MAX_ROWS);
    this.reserve(Math.max(16, initialCapacity));
  }

  get size(): number {
    return this.count;
  }

  /** How many WASM memories hold the table. */
  get shardCount(): number {
    return this.shards.length;
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
    const [shard, r] = this.locate(row);
    shard.rewards[r] = reward;
    shard.types[r] = TYPE_CODES[type];
    return true;
  }

  hashOf(id: string): string | undefined {
    const row = this.rowById.get(id);
    return row === undefined ? undefined : this.hashes[row];
  }

  /** Bytes held in WASM memory (vectors, rewards, types and scratch), over all shards. */
  get memoryBytes(): number {
    return this.shards.reduce((sum, s) => sum + s.memory.buffer.byteLength, 0);
  }

  /** Inserts or replaces a row. Throws IndexTooLargeError, and changes nothing, when it does not fit. */
  upsert(r: RowData): void {
    if (r.vector.length !== this.dimensions) {
      throw new Error(`vector for ${r.id} has ${r.vector.length} dimensions, the index has ${this.dimensions}`);
    }
    let row = this.rowById.get(r.id);
    if (row === undefined) {
      if (this.count >= this.maxRows) {
        throw new IndexTooLargeError(`an in-memory index holds at most ${this.maxRows} rows; keep agents this large in PostgreSQL with pgvector (EXEMPLAR_VECTOR_BACKEND=pgvector)`);
      }
      this.reserve(this.count + 1);
      row = this.count++;
      this.rowById.set(r.id, row);
      this.ids[row] = r.id;
    }
    this.hashes[row] = r.hash;
    const [shard, local] = this.locate(row);
    shard.rewards[local] = r.reward;
    shard.types[local] = TYPE_CODES[r.type];
    this.writeVector(shard, local, r.vector);
  }

  /** Removes a row by moving the last row into its place. Returns whether it existed. */
  delete(id: string): boolean {
    const row = this.rowById.get(id);
    if (row === undefined) return false;
    const last = this.count - 1;
    if (row !== last) {
      const [to, r] = this.locate(row);
      const [from, l] = this.locate(last);
      to.copyRow(from, l, r);
      this.ids[row] = this.ids[last];
      this.hashes[row] = this.hashes[last];
      this.rowById.set(this.ids[row], row);
    }
    this.ids.length = last;
    this.hashes.length = last;
    this.rowById.delete(id);
    this.count = last;
    // An emptied last shard goes back to the system (one stays, for the scratch space of a search).
    while (this.shards.length > 1 && (this.shards.length - 1) * this.rowsPerShard >= this.count) this.shards.pop();
    return true;
  }

  /** A copy of a row's float32 vector. */
  vector(row: number): Float32Array {
    const [shard, r] = this.locate(row);
    return shard.f32.slice(r * this.stride, r * this.stride + this.dimensions);
  }

  reward(row: number): number {
    const [shard, r] = this.locate(row);
    return shard.rewards[r];
  }

  type(row: number): RowType {
    const [shard, r] = this.locate(row);
    return TYPE_NAMES[shard.types[r]];
  }

  /**
   * The exact top `k` rows by hybrid score among rows passing the filter, best first. Ties break by
   * row order. `query` must be unit length (as every ExemplarEmbedding returns).
   */
  search(query: Float32Array, k: number, filter: ScanFilter): ScoredRow[] {
    if (query.length !== this.dimensions) {
      throw new Error(`query has ${query.length} dimensions, the index has ${this.dimensions}`);
    }
    if (this.count === 0 || k <= 0) return [];
    const { queryError } = this.writeQuery(query);
    const typeMask = (filter.types ?? TYPE_NAMES).reduce((m, t) => m | (1 << TYPE_CODES[t]), 0);
    const parts = this.parts();
    let passed = 0;
    for (const { shard, n } of parts) {
      const L = shard.layout;
      passed += shard.kernel.approx_hybrid(
        L.codes, L.scales, L.rewards, L.types, n, this.stride, BLOCK_SHIFT, L.pairs, this.queryPairs, this.queryScale, L.out, L.maxes, L.acc,
        filter.minReward, typeMask, filter.alpha, filter.beta,
      );
    }
    if (passed === 0) return [];

    // First pass: at least m rows with the best approximate scores, re-scored exactly. They are
    // found with a histogram of the best score of each group of 16 rows (a 16th of the numbers of
    // a histogram of every row): m groups reaching a threshold hold at least m rows reaching it.
    // Scores range over [−α + min(0, β), α + max(0, β)], give or take the error; a score outside
    // only makes the pick less tight, never wrong (see b === 0 below).
    const m = Math.min(passed, k * 4 + 16);
    const lo = -Math.abs(filter.alpha) + Math.min(0, filter.beta) - 0.05;
    const hi = Math.abs(filter.alpha) + Math.max(0, filter.beta) + 0.05;
    const buckets = new Int32Array(BUCKETS);
    for (const { shard, n } of parts) {
      shard.kernel.histogram(shard.layout.maxes, Math.ceil(n / 16), lo, hi, shard.layout.buckets, BUCKETS);
      for (let b = 0; b < BUCKETS; b++) buckets[b] += shard.buckets[b];
    }
    let above = 0;
    let b = BUCKETS - 1;
    for (; b > 0; b--) if ((above += buckets[b]) >= m) break;
    // Just under bucket b's lower edge (f32 rounding), or every passing row when b is 0.
    const start = b === 0 ? BELOW_ALL : lo + ((b - 0.01) / BUCKETS) * (hi - lo);
    const exact = new Map<number, ScoredRow>();
    const best = new TopScores(k);
    const collect = (threshold: number, alpha: number, error: number) => {
      for (const { shard, n, first } of parts) {
        const got = shard.kernel.collect(shard.layout.out, shard.layout.errors, n, threshold, alpha, error, shard.layout.rowsOut);
        for (let i = 0; i < got; i++) {
          const row = first + shard.rowsOut[i];
          if (exact.has(row)) continue;
          const scored = this.rescore(row, filter);
          exact.set(row, scored);
          best.push(scored.hybrid);
        }
      }
    };
    collect(start, 0, 0);
    // Certify: any row whose approximate score plus its error bound reaches the k-th exact score
    // could belong to the top k, so it is re-scored exactly too. (Below k rows, all passing rows
    // were collected above already.)
    const kth = best.kth();
    if (kth > -Infinity) collect(kth, filter.alpha, queryError);
    return [...exact.values()].sort((x, y) => y.hybrid - x.hybrid || x.row - y.row).slice(0, k);
  }

  /** Exact scores of the given rows, best first: for searches whose filter only SQL can evaluate. */
  scoreRows(query: Float32Array, rows: number[], filter: Pick<ScanFilter, 'alpha' | 'beta'>): ScoredRow[] {
    this.writeQuery(query);
    return rows.map((row) => this.rescore(row, filter)).sort((x, y) => y.hybrid - x.hybrid || x.row - y.row);
  }

  /** Exact float32 score of one row against the last query written (for the certified re-score). */
  rescore(row: number, filter: Pick<ScanFilter, 'alpha' | 'beta'>): ScoredRow {
    const [shard, r] = this.locate(row);
    const L = shard.layout;
    const similarity = shard.kernel.dot_f32(L.f32 + r * this.stride * 4, L.query32, this.stride);
    const reward = shard.rewards[r];
    return {
      row,
      id: this.ids[row],
      similarity,
      reward,
      type: TYPE_NAMES[shard.types[r]],
      hybrid: hybridScore(similarity, reward, filter.alpha, filter.beta),
    };
  }

  /** Cosine of two stored rows (for MMR and near-duplicate checks). */
  similarityBetween(a: number, b: number): number {
    const [sa, ra] = this.locate(a);
    const [sb, rb] = this.locate(b);
    const s = this.stride;
    let other = sa.layout.f32 + rb * s * 4;
    if (sb !== sa) {
      // The kernel reads one memory: bring b's row over.
      sa.other32.set(sb.f32.subarray(rb * s, (rb + 1) * s));
      other = sa.layout.other32;
    }
    return sa.kernel.dot_f32(sa.layout.f32 + ra * s * 4, other, s);
  }

  /** Every row, for persistence. */
  *rows(): Generator<RowData> {
    for (let row = 0; row < this.count; row++) {
      yield { id: this.ids[row], vector: this.vector(row), reward: this.reward(row), type: this.type(row), hash: this.hashes[row] };
    }
  }

  /**
   * Raw columns, for a fast binary save: each column as byte views of the shards' memories, in row
   * order. Concatenated, a column does not depend on the shard size (shards hold whole blocks of
   * codes), so a file saved with one shard size loads with another. `i8` holds the codes of
   * ceil(size / 64) whole blocks.
   */
  columns(): { ids: string[]; hashes: string[] } & Record<Column, Uint8Array[]> {
    return { ids: this.ids.slice(0, this.count), hashes: this.hashes.slice(0, this.count), ...this.columnViews(this.count) };
  }

  /**
   * For loading from disk without a second copy: an empty table with room for `n` rows whose
   * columns are byte views of its WASM memories (the shape `columns` returns), to be filled in
   * place, then `commit`ted with the ids.
   */
  static forLoad(dimensions: number, n: number, options?: VectorTableOptions): {
    table: VectorTable;
    columns: Record<Column, Uint8Array[]>;
    commit(ids: string[], hashes: string[]): void;
  } {
    const table = new VectorTable(dimensions, n + 1024, options);
    return {
      table,
      columns: table.columnViews(n),
      commit(ids: string[], hashes: string[]) {
        table.ids = ids;
        table.hashes = hashes;
        ids.forEach((id, row) => table.rowById.set(id, row));
        table.count = n;
      },
    };
  }

  private columnViews(n: number): Record<Column, Uint8Array[]> {
    const out: Record<Column, Uint8Array[]> = { rewards: [], types: [], scales: [], errors: [], f32: [], i8: [] };
    const bytes = (a: Float32Array | Int8Array | Uint8Array, count: number) => new Uint8Array(a.buffer, a.byteOffset, count * a.BYTES_PER_ELEMENT);
    for (const { shard, n: rows } of this.parts(n)) {
      out.rewards.push(bytes(shard.rewards, rows));
      out.types.push(bytes(shard.types, rows));
      out.scales.push(bytes(shard.scales, rows));
      out.errors.push(bytes(shard.errors, rows));
      out.f32.push(bytes(shard.f32, rows * this.stride));
      out.i8.push(bytes(shard.codes, align(rows, BLOCK) * this.stride));
    }
    return out;
  }

  /** The shards holding rows [0, n), with how many rows each holds and its first row. */
  private parts(n = this.count): { shard: Shard; n: number; first: number }[] {
    const out = [];
    for (let s = 0, first = 0; first < n; s++, first += this.rowsPerShard) {
      out.push({ shard: this.shards[s], n: Math.min(this.rowsPerShard, n - first), first });
    }
    return out;
  }

  private locate(row: number): [Shard, number] {
    const s = Math.floor(row / this.rowsPerShard);
    return [this.shards[s], row - s * this.rowsPerShard];
  }

  /**
   * Writes the query into every shard: float32 for the exact pass, and for the int8 pass its
   * non-zero dimension pairs (int8 values widened to int16). Returns its quantisation error norm.
   */
  private writeQuery(query: Float32Array): { queryError: number } {
    const q16 = this.query16;
    q16.fill(0);
    const { scale, error } = quantise(query, q16);
    this.queryScale = scale;
    const shard0 = this.shards[0];
    let np = 0;
    for (let p = 0; p < this.stride / 2; p++) {
      const even = q16[2 * p];
      const odd = q16[2 * p + 1];
      if (even === 0 && odd === 0) continue;
      shard0.pairs[2 * np] = p * 2 * BLOCK;
      shard0.pairs[2 * np + 1] = (even & 0xffff) | (odd << 16);
      np++;
    }
    this.queryPairs = np;
    shard0.query32.fill(0);
    shard0.query32.set(query);
    for (let s = 1; s < this.shards.length; s++) {
      this.shards[s].query32.set(shard0.query32);
      this.shards[s].pairs.set(shard0.pairs.subarray(0, 2 * np));
    }
    return { queryError: error };
  }

  private writeVector(shard: Shard, r: number, vector: Float32Array): void {
    const at = r * this.stride;
    shard.f32.fill(0, at, at + this.stride);
    shard.f32.set(vector, at);
    const q = new Int8Array(this.stride);
    const { scale, error } = quantise(vector, q);
    for (let p = 0; p < this.stride / 2; p++) {
      const c = shard.codeAt(r, p);
      shard.codes[c] = q[2 * p];
      shard.codes[c + 1] = q[2 * p + 1];
    }
    shard.scales[r] = scale;
    shard.errors[r] = error;
  }

  /**
   * Makes room for `rows` rows: grows the last shard (by 1.25x steps, which keep memory near 1.25x
   * the data) up to rowsPerShard, then adds shards. Checks the whole plan against the limits
   * before it allocates, and turns the engine's out-of-memory RangeError into IndexTooLargeError.
   */
  private reserve(rows: number): void {
    const R = this.rowsPerShard;
    const full = Math.floor((rows - 1) / R); // shards that must be full
    const lastRows = rows - full * R;
    const have = this.shards.length;
    const last = this.shards[have - 1];
    if (have === full + 1 && last.capacity >= lastRows) return;
    if (have > full + 1) return;
    // New capacities: shards before `full` become full, the last one grows in steps.
    const plan: number[] = [];
    for (let s = 0; s <= full; s++) {
      const current = this.shards[s]?.capacity ?? 0;
      const need = s < full ? R : lastRows;
      if (current >= need) continue;
      const step = s < full ? R : Math.min(R, align(Math.max(need, Math.ceil(current * 1.25) + 16), BLOCK));
      plan[s] = step;
    }
    const kept = this.shards.reduce((sum, sh, s) => sum + (plan[s] === undefined ? sh.memory.buffer.byteLength : 0), 0);
    const added = plan.reduce((sum, c) => sum + (c === undefined ? 0 : align(shardLayout(this.stride, c).bytes, PAGE)), 0);
    const tooLarge = (why: string) => new IndexTooLargeError(
      `an in-memory index of ${rows} rows of ${this.dimensions} dimensions needs ${((kept + added) / 2 ** 30).toFixed(2)} GiB of memory, ${why}; ` +
        'keep agents this large in PostgreSQL with pgvector (EXEMPLAR_VECTOR_BACKEND=pgvector)',
    );
    if (kept + added > this.maxTotalBytes) throw tooLarge(`over the limit of ${(this.maxTotalBytes / 2 ** 30).toFixed(2)} GiB`);
    const made: Shard[] = [];
    for (const [s, capacity] of plan.entries()) {
      if (capacity === undefined) continue;
      let memory: WebAssembly.Memory;
      try {
        memory = new WebAssembly.Memory({ initial: Math.ceil(shardLayout(this.stride, capacity).bytes / PAGE) });
      } catch (err) {
        if (err instanceof RangeError) throw tooLarge(`more than this process could allocate (${err.message})`);
        throw err;
      }
      const shard = new Shard(this.stride, capacity, memory);
      const old = this.shards[s];
      if (old) copyShard(old, shard, Math.min(old.capacity, Math.max(0, this.count - s * R)));
      made[s] = shard;
    }
    for (const [s, shard] of made.entries()) if (shard) this.shards[s] = shard;
  }
}

type Column = 'rewards' | 'types' | 'scales' | 'errors' | 'f32' | 'i8';

/** Copies the first `n` rows of one shard into a larger one. */
function copyShard(from: Shard, to: Shard, n: number): void {
  const s = from.stride;
  to.f32.set(from.f32.subarray(0, n * s));
  // Whole blocks keep their layout; a larger shard only has more of them.
  to.codes.set(from.codes.subarray(0, align(n, BLOCK) * s));
  to.scales.set(from.scales.subarray(0, n));
  to.errors.set(from.errors.subarray(0, n));
  to.rewards.set(from.rewards.subarray(0, n));
  to.types.set(from.types.subarray(0, n));
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
