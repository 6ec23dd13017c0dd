import { BaseEmbedding } from '@llamaindex/core/embeddings';
import type { ExemplarEmbedding } from '../embeddings/embedding.ts';

/**
 * An Exemplar embedding provider as a LlamaIndex `BaseEmbedding`, for `Settings.embedModel`, a
 * `VectorStoreIndex` or any LlamaIndex code: `llamaIndexEmbedding(new HashingEmbeddingV2())`.
 * Batching is the provider's own, so LlamaIndex's batch size does not split requests further.
 */
export class LlamaIndexEmbedding extends BaseEmbedding {
  constructor(readonly provider: ExemplarEmbedding) {
    super();
    this.embedBatchSize = Number.MAX_SAFE_INTEGER;
    this.getTextEmbeddings = async (texts: string[]) => (await provider.embed(texts)).map((v) => Array.from(v));
  }

  async getTextEmbedding(text: string): Promise<number[]> {
    return Array.from((await this.provider.embed([text]))[0]);
  }
}

export function llamaIndexEmbedding(provider: ExemplarEmbedding): LlamaIndexEmbedding {
  return new LlamaIndexEmbedding(provider);
}
