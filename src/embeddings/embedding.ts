import { ValidationError } from '../errors.ts';

/**
 * An embedding provider: `embed(texts)` returns L2-normalised float32 vectors. LlamaIndex code uses
 * one through `llamaIndexEmbedding(provider)` (src/vectors/llamaindex-embedding.ts), a LlamaIndex
 * `BaseEmbedding`. It is not one itself: LlamaIndex's embeddings module loads a tokenizer, about
 * 90 MB and a fifth of a second that every command and server would pay for nothing.
 */
export abstract class ExemplarEmbedding {
  /** Stable id of the model and its settings, e.g. "hashing-384" or "openai:text-embedding-3-small@1536".
   * Stored with every index and cache entry: vectors from different ids are never mixed. */
  abstract readonly modelId: string;
  abstract readonly dimensions: number;
  /** Whether vectors are worth caching in PostgreSQL (false when computing is cheaper than a lookup). */
  abstract readonly cacheable: boolean;

  /** Embeds many texts; each result has `dimensions` entries and unit length. */
  abstract embed(texts: string[]): Promise<Float32Array[]>;

  /**
   * The text an example is indexed by. Most models embed the prompt alone: "find examples asked
   * like this". A model may take in the completion too (hashing-v2 does, at a lower weight).
   */
  exampleText(example: ExampleText): string {
    return example.prompt;
  }
}

/** What an index embeds an example from. */
export interface ExampleText {
  prompt: string;
  completion: string;
}

/**
 * A model's vector size: the one given, else the one known for the model. A provider cannot work
 * without it (the index is laid out by it), so an unknown size is an error that says how to set it.
 */
export function modelDimensions(kind: string, model: string, given: number | undefined, known: Record<string, number>): number {
  const dimensions = given ?? known[model];
  if (dimensions === undefined) {
    throw new ValidationError(
      'EXEMPLAR_EMBEDDING_DIMENSIONS',
      `the size of "${model}"'s vectors is not known; set EXEMPLAR_EMBEDDING_DIMENSIONS or use "${kind}:${model}@<dimensions>"`,
    );
  }
  if (!Number.isInteger(dimensions) || dimensions <= 0) {
    throw new ValidationError('EXEMPLAR_EMBEDDING_DIMENSIONS', `must be a positive integer, got ${dimensions}`);
  }
  return dimensions;
}
