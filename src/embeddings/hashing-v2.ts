import stopword from 'stopword';
import { stemmer } from 'stemmer';
import { ExemplarEmbedding, type ExampleText } from './embedding.ts';
import { add, FNV_PRIME, hashRange } from './hashing.ts';
import { l2normalize } from './normalize.ts';

const DIMENSIONS = 384;

/** Weights of the features. Character 3-grams let "dedupe" meet "duplicates"; bigrams keep a
 * little word order ("merge sort" is not "sort merge"). Measured on data/demo/search-eval.jsonl. */
export const V2_WORD_WEIGHT = 1.0;
export const V2_BIGRAM_WEIGHT = 0.3;
export const V2_TRIGRAM_WEIGHT = 0.3;
/** How much an example's completion counts against its prompt. The completion names what the
 * answer is about (`csv.DictReader`, `ON CONFLICT`), which the question often does not. */
export const COMPLETION_WEIGHT = 0.3;
/** Between an example's prompt and completion in the text `exampleText` builds: U+001F, the unit
 * separator, as in the content hash. Queries never contain it in practice. */
const PART_SEPARATOR = '\u001f';

const SEED_WORD = 0x811c9dc5;
const SEED_BIGRAM = 0x2f7b1a37;
const SEED_TRIGRAM = 0x5bd1e995;
const BOUNDARY = 0x23;
const SPACE = 0x20;

/** English function words, plus the words nearly every question to a coding assistant has. */
const STOP_WORDS = new Set([...stopword.eng, 'how', 'what', 'why', 'when', 'where', 'which', 'who', 'do', 'does', 'did', 'i', 'me', 'my', 'is', 'it', 'its', 'the', 'a', 'an', 'to', 'of', 'in', 'on', 'and', 'or', 'can', 'get', 'use', 'using', 'way', 'want', 'need', 'should']);

/** A word, with the characters that join the parts of identifiers and file names inside it:
 * `pg_hba.conf`, `node_modules`, `package-lock`, `don't`. Leading `--` of a flag is dropped. */
const TOKEN = /[\p{L}\p{N}_]+(?:[.'\-][\p{L}\p{N}_]+)*/gu;
/** Where identifiers split: `_ . ' -`, camelCase and PascalCase humps, letters against digits. */
const PARTS = /[_.'\-]+|(?<=\p{Ll})(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/u;
const LETTERS = /^[a-z]+$/;

/**
 * The default offline embedding since `hashing` (v1): feature hashing into 384 signed buckets, like
 * v1, with what the labelled demo set showed pays (`npm run bench -- relevance`):
 * - English stop words dropped, so "how do I ... in python" stops pulling unrelated questions together;
 * - identifiers kept whole and split into their parts (`snake_case`, `camelCase`, `TS2307`);
 * - Porter stemming, so "sorting", "sorted" and "sorts" are one term;
 * - sublinear term weights (1 + ln count), so a word repeated in code does not drown the rest;
 * - an example is embedded from its prompt and, at weight 0.3, its completion.
 *
 * Still LEXICAL, NOT SEMANTIC: "center a div" does not meet "put a box in the middle". For meaning,
 * use an `openai:` or `transformers:` model.
 */
export class HashingEmbeddingV2 extends ExemplarEmbedding {
  readonly modelId = 'hashing-v2';
  readonly dimensions = DIMENSIONS;
  readonly cacheable = false;

  override exampleText(example: ExampleText): string {
    return `${example.prompt}${PART_SEPARATOR}${example.completion}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return texts.map((t) => hashingV2Vector(t));
  }
}

/** The vector of one text; the part after a U+001F counts COMPLETION_WEIGHT. */
export function hashingV2Vector(text: string): Float32Array {
  const v = new Float32Array(DIMENSIONS);
  const cut = text.indexOf(PART_SEPARATOR);
  addPart(v, cut < 0 ? text : text.slice(0, cut), 1);
  if (cut >= 0) addPart(v, text.slice(cut + 1), COMPLETION_WEIGHT);
  return l2normalize(v);
}

/** The terms of a text, in order: lower-cased, split, stemmed, without stop words. */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(TOKEN)) {
    const raw = m[0];
    const parts = raw.split(PARTS).filter(Boolean);
    if (parts.length > 1) out.push(raw.toLowerCase());
    for (const p of parts) {
      const t = p.toLowerCase();
      if (!STOP_WORDS.has(t)) out.push(stem(t));
    }
  }
  return out;
}

/** Counts each feature of one part, then adds weight · (1 + ln count) per feature. */
function addPart(v: Float32Array, text: string, partWeight: number): void {
  const words = new Map<number, number>();
  const bigrams = new Map<number, number>();
  const trigrams = new Map<number, number>();
  const count = (m: Map<number, number>, h: number) => m.set(h, (m.get(h) ?? 0) + 1);
  let prev: string | undefined;
  for (const t of terms(text)) {
    count(words, hashRange(t, 0, t.length, SEED_WORD));
    if (prev !== undefined) count(bigrams, hashRange(t, 0, t.length, Math.imul(hashRange(prev, 0, prev.length, SEED_BIGRAM) ^ SPACE, FNV_PRIME)));
    if (t.length >= 4) for (const h of trigramHashes(t)) count(trigrams, h);
    prev = t;
  }
  for (const [m, w] of [[words, V2_WORD_WEIGHT], [bigrams, V2_BIGRAM_WEIGHT], [trigrams, V2_TRIGRAM_WEIGHT]] as const) {
    for (const [h, n] of m) add(v, h, partWeight * w * (1 + Math.log(n)));
  }
}

/** Hashes of the character 3-grams of "#term#". */
function trigramHashes(t: string): number[] {
  const out: number[] = [];
  for (let i = -1; i + 2 <= t.length; i++) {
    let h = SEED_TRIGRAM;
    for (let j = i; j < i + 3; j++) h = Math.imul(h ^ (j < 0 || j >= t.length ? BOUNDARY : t.charCodeAt(j)), FNV_PRIME);
    out.push(h);
  }
  return out;
}

/** Porter stems of plain words, memoised: vocabularies repeat, and stemming is the slow part. */
const stems = new Map<string, string>();
function stem(t: string): string {
  if (!LETTERS.test(t)) return t;
  let s = stems.get(t);
  if (s === undefined) {
    s = stemmer(t);
    if (stems.size < 200_000) stems.set(t, s);
  }
  return s;
}
