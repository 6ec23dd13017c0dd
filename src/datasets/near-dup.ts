import { hashingVector } from '../embeddings/hashing.ts';

/** How near duplicates are found; named in the dataset report. */
export const NEAR_DUPLICATE_METHOD =
  'cosine of hashing-384 embeddings of prompt + completion; candidates from random-hyperplane LSH (64-bit SimHash, banded), every candidate pair checked exactly';

const DIMS = 384;
const PLANES = 64;
/**
 * Most kept items one text is checked against. Unbounded, a corpus of near-identical template
 * texts (all pairs around 0.9) makes every bucket hold thousands and the work quadratic; with the
 * cap (bucket entries visited per text, over all bands), the worst case is linear, and a duplicate
 * hiding behind thousands of other candidates in its buckets can be missed.
 */
const MAX_CANDIDATES = 8192;

export interface NearDupItem {
  /** Text compared (prompt and completion). */
  text: string;
  /** Items of different groups are never duplicates of each other (e.g. positive vs negative). */
  group: number;
}

export interface NearDupResult {
  /** For each item: -1 if kept, else the index of the kept item it duplicates. */
  duplicateOf: Int32Array;
  /** Cosine to that item (0 when kept). */
  similarity: Float32Array;
  /** Exact cosine computations made: a measure of how well the LSH blocking prunes. */
  comparisons: number;
}

/**
 * Greedy near-duplicate removal: items are visited in the given order (best first), and an item
 * is dropped when its cosine with an already kept item of the same group is at least `threshold`.
 *
 * An all-pairs check is quadratic (10^10 pairs at 100k), so candidates come from LSH: each text's
 * hashing embedding is projected on 64 fixed random hyperplanes (a 64-bit SimHash; two vectors at
 * angle θ agree on a bit with probability 1 − θ/π), and `bands` keys of `bits` sampled bits each
 * put it in buckets. Kept items sharing a bucket, whose signatures differ in few enough bits, are
 * compared exactly. Parameters are chosen so a pair right at the threshold is found with
 * probability about 0.97 for thresholds >= 0.85 (closer pairs more surely); lower thresholds trade
 * recall for speed. Texts that are all alike (one template) make many candidates: that is the slow case.
 */
export function findNearDuplicates(items: NearDupItem[], threshold: number, onProgress?: (done: number, total: number) => void): NearDupResult {
  const n = items.length;
  const duplicateOf = new Int32Array(n).fill(-1);
  const similarity = new Float32Array(n);
  if (threshold <= 0 || n < 2) return { duplicateOf, similarity, comparisons: 0 };

  const { bits, bands, maxHamming } = lshParameters(threshold);
  const planes = randomPlanes(PLANES, DIMS, 0x5eed);
  const bandBits = sampleBands(bands, bits, PLANES, 0xb0a7);
  const vectors = new Float32Array(n * DIMS);
  const sigLo = new Uint32Array(n);
  const sigHi = new Uint32Array(n);
  const buckets: Map<number, number[]>[] = Array.from({ length: bands }, () => new Map());
  const seen = new Int32Array(n).fill(-1);
  let comparisons = 0;
  const keys = new Float64Array(bands);
  const nz = new Int32Array(DIMS);

  for (let i = 0; i < n; i++) {
    const v = hashingVector(items[i].text);
    vectors.set(v, i * DIMS);
    // Project on the planes, visiting only the vector's non-zero dimensions.
    let m = 0;
    for (let d = 0; d < DIMS; d++) if (v[d] !== 0) nz[m++] = d;
    let lo = 0;
    let hi = 0;
    for (let p = 0; p < PLANES; p++) {
      const o = p * DIMS;
      let s = 0;
      for (let k = 0; k < m; k++) s += planes[o + nz[k]] * v[nz[k]];
      if (s > 0) {
        if (p < 32) lo |= 1 << p;
        else hi |= 1 << (p - 32);
      }
    }
    sigLo[i] = lo >>> 0;
    sigHi[i] = hi >>> 0;

    // Band keys: the sampled bits, plus the group, as one number.
    let dupOf = -1;
    let best = 0;
    let visited = 0;
    for (let b = 0; b < bands; b++) {
      let key = 0;
      const sample = bandBits[b];
      for (let k = 0; k < sample.length; k++) {
        const p = sample[k];
        const bit = p < 32 ? (lo >>> p) & 1 : (hi >>> (p - 32)) & 1;
        key = key * 2 + bit;
      }
      keys[b] = items[i].group * 2 ** bits + key;
      const bucket = buckets[b].get(keys[b]);
      if (!bucket || dupOf >= 0 || visited >= MAX_CANDIDATES) continue;
      // Newest kept first: a bucket's tail is where a run of similar texts keeps landing.
      for (let k = bucket.length - 1; k >= 0 && visited < MAX_CANDIDATES; k--) {
        const j = bucket[k];
        visited++;
        if (seen[j] === i) continue;
        seen[j] = i;
        // Cheap pre-check: SimHash signatures of a pair at the threshold differ in about 64·θ/π bits.
        if (popcount((lo ^ sigLo[j]) >>> 0) + popcount((hi ^ sigHi[j]) >>> 0) > maxHamming) continue;
        comparisons++;
        const c = sparseDot(v, nz, m, vectors, j * DIMS);
        if (c >= threshold && c > best) {
          best = c;
          dupOf = j;
        }
      }
    }
    if (dupOf >= 0) {
      duplicateOf[i] = dupOf;
      similarity[i] = best;
    } else {
      for (let b = 0; b < bands; b++) {
        const bucket = buckets[b].get(keys[b]);
        if (bucket) bucket.push(i);
        else buckets[b].set(keys[b], [i]);
      }
    }
    if (onProgress && (i + 1) % 10_000 === 0) onProgress(i + 1, n);
  }
  return { duplicateOf, similarity, comparisons };
}

/** Bits per band and number of bands for a cosine threshold. */
export function lshParameters(threshold: number): { bits: number; bands: number; maxHamming: number } {
  const q = Math.acos(Math.min(1, threshold)) / Math.PI; // chance that one bit differs at the threshold
  const p = 1 - q;
  // Enough bits that a band rarely matches texts below the threshold, and enough bands that a
  // pair at the threshold shares at least one with probability 0.97.
  const bits = Math.max(8, Math.min(24, Math.round(Math.log(0.1) / Math.log(p))));
  const band = p ** bits;
  const bands = Math.max(4, Math.min(48, Math.ceil(Math.log(0.03) / Math.log(1 - band))));
  // Signatures of a pair at the threshold differ in Binomial(64, q) bits: allow mean + 3.5 sd.
  const maxHamming = Math.ceil(PLANES * q + 3.5 * Math.sqrt(PLANES * q * p));
  return { bits, bands, maxHamming };
}

export interface NearDupMatch {
  /** For each item: the index of the reference it is nearest to at or above the threshold, or -1. */
  referenceOf: Int32Array;
  /** Cosine to that reference (0 when none). */
  similarity: Float32Array;
}

/**
 * Most exact cosines one item is checked with in nearDuplicateMatcher (references nearest in
 * signature first). Only texts that are all alike reach it: with 4,000 members from one template
 * (all pairs near 0.9), every near copy at 0.95-0.96 was found within 256 checks (64 missed 2%).
 */
const MAX_EXACT_CHECKS = 512;

/**
 * "Which of these items are near duplicates of these references?": the same hashing-384 cosine
 * and 64-bit SimHash as findNearDuplicates, but items are only compared with the references
 * (never with each other), and nothing is kept or dropped greedily. The references are indexed
 * once, so a caller can ask about many batches of items (e.g. each widening of a search).
 *
 * Used to keep eval-set examples out of training and grounding, where a miss is a leak, so no
 * banding: with 64 bits, bands overlap and a pair at the threshold whose signatures differ in 10
 * or more bits (about 1 in 10) shares none (measured: banding finds 82-90% of pairs at cosine
 * 0.95-0.96). Instead each item's signature is compared with every reference's (two popcounts
 * each: a few thousand references cost microseconds), and the exact cosine is computed for the
 * references within mean + 4.5 sd of the bits a pair at the threshold differs in, nearest first.
 * A pair at the threshold is missed only when its signatures differ in more bits than that
 * (about 1 in 10^5), or when more than MAX_EXACT_CHECKS references are nearer in signature without
 * being near duplicates (one template for everything: the slow case). No group: a text is a leak
 * whatever its example type.
 */
export function nearDuplicateMatcher(references: readonly string[], threshold: number): (items: readonly string[]) => NearDupMatch {
  const r = references.length;
  const q = Math.acos(Math.min(1, Math.max(-1, threshold))) / Math.PI; // chance that one bit differs at the threshold
  const maxHamming = Math.min(PLANES, Math.ceil(PLANES * q + 4.5 * Math.sqrt(PLANES * q * (1 - q))));
  const planes = byDimension(randomPlanes(PLANES, DIMS, 0x5eed));
  const vectors = new Float32Array(r * DIMS);
  const sigLo = new Uint32Array(r);
  const sigHi = new Uint32Array(r);
  const nz = new Int32Array(DIMS);
  for (let i = 0; i < r && threshold > 0; i++) {
    const v = hashingVector(references[i]);
    vectors.set(v, i * DIMS);
    [sigLo[i], sigHi[i]] = simHash(v, nz, nonZero(v, nz), planes);
  }
  const near = new Int32Array(r);
  const nearDistance = new Uint8Array(r);
  const order = new Int32Array(r);
  const start = new Int32Array(maxHamming + 2);
  return (items) => {
    const n = items.length;
    const referenceOf = new Int32Array(n).fill(-1);
    const similarity = new Float32Array(n);
    if (threshold <= 0 || r === 0) return { referenceOf, similarity };
    for (let i = 0; i < n; i++) {
      const v = hashingVector(items[i]);
      const m = nonZero(v, nz);
      const [lo, hi] = simHash(v, nz, m, planes);
      // The references within maxHamming (usually none: unrelated texts differ in about half the bits) ...
      let within = 0;
      for (let j = 0; j < r; j++) {
        const d = popcount((lo ^ sigLo[j]) >>> 0) + popcount((hi ^ sigHi[j]) >>> 0);
        if (d <= maxHamming) {
          near[within] = j;
          nearDistance[within++] = d;
        }
      }
      if (within === 0) continue;
      // ... counting-sorted by signature distance: nearest first.
      start.fill(0);
      for (let k = 0; k < within; k++) start[nearDistance[k] + 1]++;
      for (let d = 1; d <= maxHamming + 1; d++) start[d] += start[d - 1];
      for (let k = 0; k < within; k++) order[start[nearDistance[k]]++] = near[k];
      for (let k = 0; k < Math.min(within, MAX_EXACT_CHECKS); k++) {
        const j = order[k];
        const c = sparseDot(v, nz, m, vectors, j * DIMS);
        if (c >= threshold) {
          referenceOf[i] = j;
          similarity[i] = c;
          break;
        }
      }
    }
    return { referenceOf, similarity };
  };
}

/** Writes the indices of v's non-zero dimensions to nz; returns how many. */
function nonZero(v: Float32Array, nz: Int32Array): number {
  let m = 0;
  for (let d = 0; d < DIMS; d++) if (v[d] !== 0) nz[m++] = d;
  return m;
}

/** The planes dimension-major (the 64 planes' entries of one dimension side by side), for simHash. */
function byDimension(planes: Float32Array): Float32Array {
  const out = new Float32Array(PLANES * DIMS);
  for (let p = 0; p < PLANES; p++) for (let d = 0; d < DIMS; d++) out[d * PLANES + p] = planes[p * DIMS + d];
  return out;
}

const sums = new Float64Array(PLANES);

/**
 * The 64-bit SimHash of v (its sign on each plane), as two unsigned 32-bit halves. Walks v's
 * non-zero dimensions once over contiguous rows of `planesByDim` (faster than plane by plane).
 */
function simHash(v: Float32Array, nz: Int32Array, m: number, planesByDim: Float32Array): [number, number] {
  sums.fill(0);
  for (let k = 0; k < m; k++) {
    const x = v[nz[k]];
    const o = nz[k] * PLANES;
    for (let p = 0; p < PLANES; p++) sums[p] += x * planesByDim[o + p];
  }
  let lo = 0;
  let hi = 0;
  for (let p = 0; p < 32; p++) if (sums[p] > 0) lo |= 1 << p;
  for (let p = 32; p < PLANES; p++) if (sums[p] > 0) hi |= 1 << (p - 32);
  return [lo >>> 0, hi >>> 0];
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** v · vectors[offset..], over v's non-zero dimensions only. */
function sparseDot(v: Float32Array, nz: Int32Array, m: number, vectors: Float32Array, offset: number): number {
  let s = 0;
  for (let k = 0; k < m; k++) s += v[nz[k]] * vectors[offset + nz[k]];
  return s;
}

/**
 * A fixed PRNG (mulberry32), so the same data always gives the same buckets. Integer arithmetic
 * only: it does not fall into a short cycle the way an LCG computed in floating point does.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPlanes(count: number, dims: number, seed: number): Float32Array {
  const rand = prng(seed);
  const out = new Float32Array(count * dims);
  for (let i = 0; i < out.length; i++) {
    // Gaussian by Box-Muller: the sign of a projection on a Gaussian direction is SimHash.
    const u = Math.max(rand(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  }
  return out;
}

function sampleBands(bands: number, bits: number, planes: number, seed: number): Int32Array[] {
  const rand = prng(seed);
  return Array.from({ length: bands }, () => {
    const all = Array.from({ length: planes }, (_, i) => i);
    for (let i = planes - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [all[i], all[j]] = [all[j], all[i]];
    }
    return Int32Array.from(all.slice(0, bits));
  });
}
