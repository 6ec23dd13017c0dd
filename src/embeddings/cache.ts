import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import type { ExampleText, ExemplarEmbedding } from './embedding.ts';

/** Hashes per statement: keeps parameters and statements a sane size on huge inputs. */
const CHUNK = 5000;

/**
 * The embedding_cache table: (model id, sha256 of the text) -> float32 little-endian vector.
 * Vectors go in as base64 text and come out as hex text, converted by PostgreSQL: PGlite converts
 * bytea parameters and columns in JS, about 10x slower (15 s instead of 1.6 s to store and read
 * back 20k 384-dim vectors here); node-postgres is as fast either way.
 */
export class EmbeddingCache {
  constructor(private readonly db: Queryable) {}

  /** The cached vectors among `hashes`, by hash. Rows of another size are ignored (treated as misses). */
  async get(model: string, dimensions: number, hashes: string[]): Promise<Map<string, Float32Array>> {
    const found = new Map<string, Float32Array>();
    for (let i = 0; i < hashes.length; i += CHUNK) {
      const { rows } = await this.db.query<{ text_sha256: string; embedding: string }>(
        `SELECT text_sha256, encode(embedding, 'hex') AS embedding FROM embedding_cache
          WHERE model = $1 AND dimensions = $2 AND text_sha256 = ANY($3::text[])`,
        [model, dimensions, hashes.slice(i, i + CHUNK)],
      );
      for (const row of rows) {
        const bytes = Buffer.from(row.embedding, 'hex');
        if (bytes.length === dimensions * 4) found.set(row.text_sha256, decode(bytes));
      }
    }
    return found;
  }

  /** Stores vectors; one already there (another writer got first) is kept. */
  async put(model: string, dimensions: number, entries: Array<{ hash: string; vector: Float32Array }>): Promise<void> {
    for (let i = 0; i < entries.length; i += CHUNK) {
      const chunk = entries.slice(i, i + CHUNK);
      // All vectors travel as one base64 text and are cut apart in SQL.
      const bytes = Buffer.alloc(chunk.length * dimensions * 4);
      chunk.forEach((e, k) => encodeInto(e.vector, bytes, k * dimensions * 4));
      await this.db.query(
        `WITH b AS (SELECT decode($4::text, 'base64') AS vectors)
         INSERT INTO embedding_cache (model, text_sha256, dimensions, embedding)
         SELECT $1::text, h, $2::int, substring(b.vectors FROM ((i - 1) * $2::int * 4)::int + 1 FOR $2::int * 4)
           FROM b, unnest($3::text[]) WITH ORDINALITY AS t(h, i)
         ON CONFLICT (model, text_sha256) DO NOTHING`,
        [model, dimensions, chunk.map((e) => e.hash), bytes.toString('base64')],
      );
    }
  }
}

export interface EmbedResult {
  /** One vector per input text, in input order. */
  vectors: Float32Array[];
  /** Distinct texts found in the cache. Both counts are 0 for providers that are not cached. */
  hits: number;
  /** Distinct texts the provider embedded (and that were then cached). */
  misses: number;
}

/**
 * Embeds `texts`, paying the provider only for texts it has never embedded. For a cacheable
 * provider: one lookup of every text's sha256 for the provider's model id, one `embed` call with
 * the distinct misses, one insert of their vectors. Other providers (hashing) are just called.
 */
export async function embedWithCache(provider: ExemplarEmbedding, texts: string[], db: Queryable): Promise<EmbedResult> {
  if (!provider.cacheable) return { vectors: await provider.embed(texts), hits: 0, misses: 0 };
  const hashes = texts.map(sha256);
  const unique = [...new Set(hashes)];
  const cache = new EmbeddingCache(db);
  const byHash = await cache.get(provider.modelId, provider.dimensions, unique);
  const hits = byHash.size;

  // Each distinct missing text once, in first-seen order.
  const missing = new Map<string, string>();
  hashes.forEach((h, i) => {
    if (!byHash.has(h) && !missing.has(h)) missing.set(h, texts[i]);
  });
  if (missing.size > 0) {
    const fresh = await provider.embed([...missing.values()]);
    const entries = [...missing.keys()].map((hash, k) => ({ hash, vector: fresh[k] }));
    for (const e of entries) byHash.set(e.hash, e.vector);
    await cache.put(provider.modelId, provider.dimensions, entries);
  }
  return { vectors: hashes.map((h) => byHash.get(h)!), hits, misses: missing.size };
}

/** A provider plus the cache, with running hit and miss counts for metrics. */
export class CachedEmbedder {
  hits = 0;
  misses = 0;

  constructor(
    readonly provider: ExemplarEmbedding,
    private readonly db: Queryable,
  ) {}

  async embed(texts: string[]): Promise<Float32Array[]> {
    const r = await embedWithCache(this.provider, texts, this.db);
    this.hits += r.hits;
    this.misses += r.misses;
    return r.vectors;
  }

  /** Embeds examples from the text the model indexes them by (see ExemplarEmbedding.exampleText). */
  embedExamples(examples: ExampleText[]): Promise<Float32Array[]> {
    return this.embed(examples.map((e) => this.provider.exampleText(e)));
  }

  /** hits / (hits + misses), or null before any cached lookup. */
  get hitRatio(): number | null {
    const total = this.hits + this.misses;
    return total === 0 ? null : this.hits / total;
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

// Stored little-endian whatever the machine, so a database moves between machines intact.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function encodeInto(v: Float32Array, out: Buffer, offset: number): void {
  if (LITTLE_ENDIAN) out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), offset);
  else for (let i = 0; i < v.length; i++) out.writeFloatLE(v[i], offset + i * 4);
}

function decode(bytes: Uint8Array): Float32Array {
  // Copy: the driver's bytes may sit at an offset that is not a multiple of 4.
  const copy = new Uint8Array(bytes);
  if (LITTLE_ENDIAN) return new Float32Array(copy.buffer);
  const view = new DataView(copy.buffer);
  return Float32Array.from({ length: copy.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}
