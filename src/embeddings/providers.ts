import path from 'node:path';
import { ValidationError } from '../errors.ts';
import type { ExemplarEmbedding } from './embedding.ts';
import { HashingEmbedding } from './hashing.ts';
import { HashingEmbeddingV2 } from './hashing-v2.ts';
import { OpenAIEmbedding } from './openai.ts';
import { TransformersEmbedding } from './transformers.ts';
import { envPositiveInt, envString } from '../config/env.ts';

/** What the embedding providers read from the environment. The README's table lists these. */
export interface EmbeddingConfig {
  /** OPENAI_API_KEY: the bearer key for the `openai:` provider. */
  openaiApiKey?: string;
  /** OPENAI_BASE_URL: any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio, TEI). */
  openaiBaseUrl?: string;
  /** EXEMPLAR_EMBEDDING_DIMENSIONS: vector size for models whose size is not built in. */
  embeddingDimensions?: number;
  /** EXEMPLAR_TRANSFORMERS_DIR: where transformers.js models are looked for and downloaded to. */
  transformersDir: string;
  /** HF_HUB_OFFLINE=1: never download transformers.js models. */
  transformersOffline: boolean;
}

export function loadEmbeddingConfig(env: NodeJS.ProcessEnv = process.env): EmbeddingConfig {
  const dataDir = env.EXEMPLAR_DATA_DIR || '.exemplar';
  return {
    openaiApiKey: envString(env.OPENAI_API_KEY),
    openaiBaseUrl: envString(env.OPENAI_BASE_URL),
    embeddingDimensions: envPositiveInt(env.EXEMPLAR_EMBEDDING_DIMENSIONS, 'EXEMPLAR_EMBEDDING_DIMENSIONS'),
    transformersDir: path.resolve(envString(env.EXEMPLAR_TRANSFORMERS_DIR) ?? path.join(dataDir, 'models')),
    transformersOffline: ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase()),
  };
}

/**
 * Builds the provider an agent's `embeddingModel` names:
 * - `hashing-v2`: the offline lexical default (stop words, identifiers, stems, and the completion too);
 * - `hashing` (also `hashing-384`): the first offline model, kept so existing indexes stay valid;
 * - `openai:<model>`, e.g. `openai:text-embedding-3-small`, `openai:nomic-embed-text@768`;
 * - `transformers:<hub id or folder>`, e.g. `transformers:Xenova/all-MiniLM-L6-v2`.
 * An `@<dimensions>` suffix sets the vector size (it wins over EXEMPLAR_EMBEDDING_DIMENSIONS), so a
 * provider's `modelId` is itself a valid spec.
 */
export function createEmbedding(spec: string, config: EmbeddingConfig): ExemplarEmbedding {
  const s = spec.trim();
  if (s === 'hashing-v2') return new HashingEmbeddingV2();
  if (s === 'hashing' || s === 'hashing-384') return new HashingEmbedding();
  const colon = s.indexOf(':');
  const kind = colon > 0 ? s.slice(0, colon) : '';
  const { model, dimensions } = splitDimensions(s.slice(colon + 1), spec);
  const dims = dimensions ?? config.embeddingDimensions;
  if (kind === 'openai' && model) {
    return new OpenAIEmbedding({
      model,
      dimensions: dims,
      apiKey: config.openaiApiKey,
      baseURL: config.openaiBaseUrl,
    });
  }
  if (kind === 'transformers' && model) {
    return new TransformersEmbedding({
      model,
      dimensions: dims,
      modelDir: config.transformersDir,
      allowRemoteModels: !config.transformersOffline,
    });
  }
  throw new ValidationError(
    'embeddingModel',
    `unknown embedding model "${spec}"; use "hashing-v2", "hashing", "openai:<model>" or "transformers:<model or folder>"`,
  );
}

/** "model@768" -> model and 768. An "@" not followed by digits belongs to the model name. */
function splitDimensions(rest: string, spec: string): { model: string; dimensions?: number } {
  const m = /^(.*)@(\d+)$/.exec(rest);
  if (!m) return { model: rest };
  const dimensions = Number(m[2]);
  if (dimensions <= 0) throw new ValidationError('embeddingModel', `"${spec}": dimensions must be positive`);
  return { model: m[1], dimensions };
}

