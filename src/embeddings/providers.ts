import path from 'node:path';
import { ValidationError } from '../errors.ts';
import type { ExemplarEmbedding } from './embedding.ts';
import { HashingEmbedding } from './hashing.ts';
import { HashingEmbeddingV2 } from './hashing-v2.ts';
import { OpenAIEmbedding } from './openai.ts';
import { TransformersEmbedding } from './transformers.ts';
import type { EmbeddingConfig } from '../config/providers.ts';

export { loadEmbeddingConfig, type EmbeddingConfig } from '../config/providers.ts';

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


/**
 * For network clients (REST, MCP over HTTP): a `transformers:` model must lie inside
 * EXEMPLAR_TRANSFORMERS_DIR, so a key cannot make the server load files from elsewhere on its disk
 * (`transformers:/any/server/path`, or a hub id that climbs out with `..`). The CLI, run by the
 * server's own user, may still name any folder.
 */
export function checkNetworkEmbeddingModel(spec: string, config: Pick<EmbeddingConfig, 'transformersDir'>): void {
  const s = spec.trim();
  if (!s.startsWith('transformers:')) return;
  const { model } = splitDimensions(s.slice('transformers:'.length), spec);
  const dir = path.resolve(config.transformersDir);
  // Where transformers.js will look: a path as given, a hub id under the models folder.
  const target = path.isAbsolute(model) || model.startsWith('.') ? path.resolve(model) : path.resolve(dir, model);
  const rel = path.relative(dir, target);
  if (rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel) || model.includes('\\')) {
    throw new ValidationError(
      'embeddingModel',
      `"${spec}" points outside the server's model folder (EXEMPLAR_TRANSFORMERS_DIR); over the network, use a hub id such as ` +
        '"transformers:Xenova/all-MiniLM-L6-v2" or a folder inside that one. The CLI on the server may name any folder.',
    );
  }
}
