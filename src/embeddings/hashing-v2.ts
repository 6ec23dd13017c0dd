import stopword from 'stopword';
import { stemmer } from 'stemmer';
import { ExemplarEmbedding, type ExampleText } from './embedding.ts';
import { add, BOUNDARY, DIMENSIONS, FNV_PRIME, hashRange, SEED_BIGRAM, SEED_TRIGRAM, SEED_WORD, SPACE } from './hashing.ts';
import { l2normalize } from './normalize.ts';

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

/** English function words, plus the words nearly every question to a coding assistant has. */
const STOP_WORDS = new Set([...stopword.eng, 'how', 'what', 'why', 'when', 'where', 'which', 'who', 'do', 'does', 'did', 'i', 'me', 'my', 'is', 'it', 'its', 'the', 'a', 'an', 'to', 'of', 'in', 'on', 'and', 'or', 'can', 'get', 'use', 'using', 'way', 'want', 'need', 'should']);

/** A word, with the characters that join the parts of identifiers and file names inside it:
 * `pg_hba.conf`, `node_modules`, `package-lock`, `don't`. Leading `--` of a flag is dropped. */
const TOKEN = /[\p{L}\p{N}_]+(?:[.'\-][\p{L}\p{N}_]+)*/gu;
/** Where identifiers split: `_ . ' -`, camelCase and PascalCase humps, letters against digits. */
const PARTS = /[_.'\-]+|(?<=\p{Ll})(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})|(?<=\p{L})(?=\p{N})|(?<=\p{N})(?=\p{L})/u;
const LETTERS = /^[a-z]+$/;
/** A lower-case token that may still split: it has a joiner or a digit. */
const MAY_SPLIT = /[_.'\-\p{N}]/u;

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
  forEachTerm(text, (t) => out.push(t));
  return out;
}

function forEachTerm(text: string, fn: (term: string) => void): void {
  for (const m of text.matchAll(TOKEN)) {
    const raw = m[0];
    const lower = raw.toLowerCase();
    // Most tokens are plain lower-case words: only identifiers go through the (slower) split.
    if (lower === raw && !MAY_SPLIT.test(raw)) {
      if (!STOP_WORDS.has(raw)) fn(stem(raw));
      continue;
    }
    const parts = raw.split(PARTS).filter(Boolean);
    if (parts.length > 1) fn(lower);
    for (const p of parts) {
      const t = p.toLowerCase();
      if (!STOP_WORDS.has(t)) fn(stem(t));
    }
  }
}

const WORD = 0;
const BIGRAM = 1;
const TRIGRAM = 2;
const KIND_WEIGHTS = [V2_WORD_WEIGHT, V2_BIGRAM_WEIGHT, V2_TRIGRAM_WEIGHT];

/** Counts each feature of one part, then adds weight · (1 + ln count) per feature. */
function addPart(v: Float32Array, text: string, partWeight: number): void {
  const counts = FEATURES.start();
  let prev: number | undefined;
  forEachTerm(text, (t) => {
    const h = hashRange(t, 0, t.length, SEED_WORD);
    counts.count(h, WORD);
    if (prev !== undefined) counts.count(Math.imul(Math.imul(prev ^ SEED_BIGRAM, FNV_PRIME) ^ SPACE, FNV_PRIME) ^ h, BIGRAM);
    if (t.length >= 4) {
      // The character 3-grams of "#term#".
      for (let i = -1; i + 2 <= t.length; i++) {
        let g = SEED_TRIGRAM;
        for (let j = i; j < i + 3; j++) g = Math.imul(g ^ (j < 0 || j >= t.length ? BOUNDARY : t.charCodeAt(j)), FNV_PRIME);
        counts.count(g, TRIGRAM);
      }
    }
    prev = h;
  });
  counts.forEach((h, kind, n) => add(v, h, partWeight * KIND_WEIGHTS[kind] * (n === 1 ? 1 : 1 + Math.log(n))));
}

/**
 * Feature counts of one text, in an open-addressing table that is reused from text to text
 * (a Map per text made the garbage collector the biggest cost of embedding).
 */
class FeatureCounts {
  private size = 0;
  private keys = new Int32Array(1024);
  private kinds = new Uint8Array(1024);
  private counts = new Uint32Array(1024);
  /** Which slots are in use: slot i is used when marks[i] === mark. Saves clearing the table. */
  private marks = new Uint32Array(1024);
  private mark = 0;
  private slots: number[] = [];

  start(): this {
    this.mark = (this.mark + 1) >>> 0;
    if (this.mark === 0) {
      this.marks.fill(0);
      this.mark = 1;
    }
    this.size = 0;
    this.slots.length = 0;
    return this;
  }

  count(hash: number, kind: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const mask = this.keys.length - 1;
    // Features of different kinds never share a key: the kind is part of it.
    const key = (hash ^ Math.imul(kind, 0x9e3779b9)) | 0;
    for (let i = (key ^ (key >>> 15)) & mask; ; i = (i + 1) & mask) {
      if (this.marks[i] !== this.mark) {
        this.marks[i] = this.mark;
        this.keys[i] = key;
        this.kinds[i] = kind;
        this.counts[i] = 1;
        this.slots.push(i);
        this.size++;
        return;
      }
      if (this.keys[i] === key && this.kinds[i] === kind) {
        this.counts[i]++;
        return;
      }
    }
  }

  /** Each feature with its original hash, kind and count. */
  forEach(fn: (hash: number, kind: number, n: number) => void): void {
    for (const i of this.slots) fn(this.keys[i] ^ Math.imul(this.kinds[i], 0x9e3779b9), this.kinds[i], this.counts[i]);
  }

  private grow(): void {
    const old = this.slots.map((i) => [this.keys[i] ^ Math.imul(this.kinds[i], 0x9e3779b9), this.kinds[i], this.counts[i]] as const);
    const capacity = this.keys.length * 2;
    this.keys = new Int32Array(capacity);
    this.kinds = new Uint8Array(capacity);
    this.counts = new Uint32Array(capacity);
    this.marks = new Uint32Array(capacity);
    this.start();
    for (const [hash, kind, n] of old) {
      this.count(hash, kind);
      this.counts[this.slots[this.slots.length - 1]] = n;
    }
  }
}
const FEATURES = new FeatureCounts();

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
