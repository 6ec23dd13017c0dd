import { ExemplarEmbedding } from './embedding.ts';
import { l2normalize } from './normalize.ts';

/** Relative weights of the three kinds of feature. Words carry the most meaning; character
 * 3-grams are many per word, so each counts less, but they let "sorting" meet "sorted". */
export const WORD_WEIGHT = 1.0;
export const BIGRAM_WEIGHT = 0.7;
export const TRIGRAM_WEIGHT = 0.35;

/** Both hashing models use 384 buckets: `add` picks the bucket. */
export const DIMENSIONS = 384;

// FNV-1a 32-bit. Each kind of feature starts from its own seed, so the word "abc" and the
// character 3-gram "abc" do not land in the same bucket with the same sign by construction.
export const FNV_PRIME = 0x01000193;
export const SEED_WORD = 0x811c9dc5; // the standard FNV offset basis
export const SEED_BIGRAM = 0x2f7b1a37;
export const SEED_TRIGRAM = 0x5bd1e995;
export const BOUNDARY = 0x23; // '#', marks the start and end of a word in its 3-grams
export const SPACE = 0x20;

/** Words: runs of letters, digits and underscores, in any script. */
const WORD = /[\p{L}\p{N}_]+/gu;

/**
 * The default, offline embedding: feature hashing of lower-cased words, word bigrams and
 * character 3-grams (with `#` marking word boundaries) into 384 signed buckets, then L2-normalised.
 *
 * It is LEXICAL, NOT SEMANTIC: texts are close when they share words or word pieces, and "car"
 * is no closer to "automobile" than to "banana". It is deterministic, needs no network or model,
 * and embeds about 100k short prompts a second, so its vectors are recomputed rather than cached.
 * For meaning-level similarity, use an `openai:` or `transformers:` model.
 */
export class HashingEmbedding extends ExemplarEmbedding {
  readonly modelId = 'hashing-384';
  readonly dimensions = DIMENSIONS;
  readonly cacheable = false;

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => hashingVector(t));
  }
}

/** The vector of one text; synchronous, for callers that embed in a tight loop. */
export function hashingVector(text: string): Float32Array {
  const v = new Float32Array(DIMENSIONS);
  const s = text.toLowerCase();
  let prevStart = -1;
  let prevEnd = -1;
  for (const m of s.matchAll(WORD)) {
    const start = m.index;
    const end = start + m[0].length;
    add(v, hashRange(s, start, end, SEED_WORD), WORD_WEIGHT);
    if (prevStart >= 0) {
      // Bigram "prev next", hashed without building the string.
      let h = hashRange(s, prevStart, prevEnd, SEED_BIGRAM);
      h = Math.imul(h ^ SPACE, FNV_PRIME);
      add(v, hashRange(s, start, end, h), BIGRAM_WEIGHT);
    }
    addTrigrams(v, s, start, end);
    prevStart = start;
    prevEnd = end;
  }
  return l2normalize(v);
}

/** Character 3-grams of the word s[start, end) padded as "#word#": "#ab", "abc", "bc#". */
function addTrigrams(v: Float32Array, s: string, start: number, end: number): void {
  // Positions run over the padded word; position -1 and `end` are the boundary marks.
  for (let i = start - 1; i + 2 <= end; i++) {
    let h = SEED_TRIGRAM;
    for (let j = i; j < i + 3; j++) {
      const c = j < start || j >= end ? BOUNDARY : s.charCodeAt(j);
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    add(v, h, TRIGRAM_WEIGHT);
  }
}

export function hashRange(s: string, start: number, end: number, seed: number): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h;
}

/** One hash gives both the bucket and the sign. FNV's low bits mix poorly, so the hash goes
 * through murmur3's finaliser first; then bit 0 is the sign and the rest pick the bucket. */
export function add(v: Float32Array, hash: number, weight: number): void {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  v[(h >>> 1) % DIMENSIONS] += h & 1 ? weight : -weight;
}
