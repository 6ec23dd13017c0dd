import { createRequire } from 'node:module';
import path from 'node:path';
import { EmbeddingProviderError, ValidationError } from '../errors.ts';
import { ExemplarEmbedding, modelDimensions } from './embedding.ts';
import { l2normalize } from './normalize.ts';

export const TRANSFORMERS_PACKAGE = '@huggingface/transformers';
export const TRANSFORMERS_DEFAULT_MODEL = 'Xenova/all-MiniLM-L6-v2';

/** Output sizes of common sentence-embedding models, so they work without EXEMPLAR_EMBEDDING_DIMENSIONS. */
export const TRANSFORMERS_KNOWN_DIMENSIONS: Record<string, number> = {
  'Xenova/all-MiniLM-L6-v2': 384,
  'Xenova/all-MiniLM-L12-v2': 384,
  'Xenova/paraphrase-multilingual-MiniLM-L12-v2': 384,
  'Xenova/bge-small-en-v1.5': 384,
  'Xenova/bge-base-en-v1.5': 768,
};

export interface TransformersEmbeddingOptions {
  /** A Hugging Face Hub id ("Xenova/all-MiniLM-L6-v2", the default) or a local model folder
   * (an absolute path, or one starting with "."): config.json, tokenizer.json, onnx/model.onnx. */
  model?: string;
  /** Length of the model's vectors. Needed for models not in TRANSFORMERS_KNOWN_DIMENSIONS. */
  dimensions?: number;
  /** Where hub models are looked for (as `<modelDir>/<hub id>/`) and downloaded to. */
  modelDir?: string;
  /** Whether a hub model missing from `modelDir` may be downloaded. Default true. */
  allowRemoteModels?: boolean;
  /** Texts per forward pass. Default 32. */
  batchSize?: number;
}

/** The parts of transformers.js used here; the package is optional, so its types are too. */
interface TransformersModule {
  env: { allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string };
  pipeline(task: 'feature-extraction', model: string, options: Record<string, unknown>): Promise<FeatureExtractor>;
}
type FeatureExtractor = (
  texts: string[],
  options: { pooling: 'mean'; normalize: boolean },
) => Promise<{ data: Float32Array | number[]; dims: number[] }>;

/**
 * Local sentence embeddings with transformers.js (ONNX Runtime on the CPU): mean pooling and
 * normalisation, as sentence-transformers does. `@huggingface/transformers` is an optional peer
 * dependency (about 470 MB with ONNX Runtime), loaded on first use; so is the model.
 *
 * The model id is `transformers:<model>@<dimensions>`.
 */
export class TransformersEmbedding extends ExemplarEmbedding {
  readonly modelId: string;
  readonly dimensions: number;
  /** A forward pass costs milliseconds per text; a cache lookup is cheaper. */
  readonly cacheable = true;
  readonly model: string;

  private readonly localPath: string | undefined;
  private readonly modelDir: string | undefined;
  private readonly allowRemoteModels: boolean;
  private readonly batchSize: number;
  private extractor: Promise<FeatureExtractor> | undefined;

  constructor(options: TransformersEmbeddingOptions = {}) {
    super();
    this.model = options.model ?? TRANSFORMERS_DEFAULT_MODEL;
    this.localPath = isLocalPath(this.model) ? path.resolve(this.model) : undefined;
    this.modelDir = options.modelDir ? path.resolve(options.modelDir) : undefined;
    this.allowRemoteModels = options.allowRemoteModels ?? true;
    this.batchSize = options.batchSize ?? 32;
    const dimensions = modelDimensions('transformers', this.model, options.dimensions, TRANSFORMERS_KNOWN_DIMENSIONS);
    this.dimensions = dimensions;
    this.modelId = `transformers:${this.model}@${dimensions}`;
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const extract = await this.load();
    const out: Float32Array[] = [];
    for (let b = 0; b < texts.length; b += this.batchSize) {
      const batch = texts.slice(b, b + this.batchSize);
      const result = await extract(batch, { pooling: 'mean', normalize: true });
      const dims = result.dims[result.dims.length - 1];
      if (dims !== this.dimensions) {
        throw this.error(
          `produces ${dims}-dimensional vectors, but ${this.modelId} expects ${this.dimensions}; set EXEMPLAR_EMBEDDING_DIMENSIONS=${dims}`,
        );
      }
      for (let i = 0; i < batch.length; i++) {
        out.push(l2normalize(Float32Array.from(result.data.slice(i * dims, (i + 1) * dims))));
      }
    }
    return out;
  }

  /** Imports the package and loads the model once; a failure is not remembered, so a fix takes effect. */
  private load(): Promise<FeatureExtractor> {
    this.extractor ??= this.loadOnce().catch((err) => {
      this.extractor = undefined;
      throw err;
    });
    return this.extractor;
  }

  private async loadOnce(): Promise<FeatureExtractor> {
    const lib = await importTransformers();
    // transformers.js keeps these settings globally; they are set right before each load.
    lib.env.allowLocalModels = true;
    lib.env.allowRemoteModels = this.allowRemoteModels && !this.localPath;
    if (this.modelDir) lib.env.localModelPath = this.modelDir;
    try {
      return await lib.pipeline('feature-extraction', this.localPath ?? this.model, {
        device: 'cpu',
        local_files_only: !lib.env.allowRemoteModels,
        ...(this.modelDir ? { cache_dir: this.modelDir } : {}),
      });
    } catch (err) {
      throw this.error(this.howToFix(err));
    }
  }

  private howToFix(err: unknown): string {
    const cause = err instanceof Error ? err.message : String(err);
    if (this.localPath) {
      return (
        `could not be loaded from the folder ${this.localPath} (${cause}). ` +
        'It must hold config.json, tokenizer.json and onnx/model.onnx, as exported for transformers.js.'
      );
    }
    const where = this.modelDir ? path.join(this.modelDir, this.model) : `transformers.js's default model folder`;
    const remote = this.allowRemoteModels
      ? 'and downloading it from the Hugging Face Hub failed'
      : 'and downloads are off (HF_HUB_OFFLINE)';
    return (
      `could not be loaded: it is not in ${where} ${remote} (${cause}). ` +
      `Fix: copy the model's files into ${where} (EXEMPLAR_TRANSFORMERS_DIR sets the folder), ` +
      'or use "transformers:/path/to/model-folder", or run once with network access (HF_HUB_OFFLINE unset) ' +
      'so it is downloaded there.'
    );
  }

  private error(what: string): EmbeddingProviderError {
    return new EmbeddingProviderError(`transformers.js model "${this.model}" ${what}`, {
      provider: 'transformers',
      model: this.model,
    });
  }
}

/** Loads the optional package, or says how to install it. */
async function importTransformers(): Promise<TransformersModule> {
  // A variable specifier keeps TypeScript from requiring the package's types at build time.
  const specifier: string = TRANSFORMERS_PACKAGE;
  try {
    return (await import(specifier)) as TransformersModule;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Loaders word a missing package differently (Node, Vite); resolving it again tells for sure.
    const notInstalled = !resolvable(TRANSFORMERS_PACKAGE);
    throw new EmbeddingProviderError(
      notInstalled
        ? `The "transformers:" embedding provider needs the optional package ${TRANSFORMERS_PACKAGE}, which is not installed. ` +
            `Install it with: npm install ${TRANSFORMERS_PACKAGE}`
        : `The optional package ${TRANSFORMERS_PACKAGE} is installed but could not be loaded: ${message}`,
      { provider: 'transformers', package: TRANSFORMERS_PACKAGE },
    );
  }
}

function resolvable(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

/** Hub ids look like "org/name"; anything absolute or starting with "." is a folder. */
function isLocalPath(model: string): boolean {
  return path.isAbsolute(model) || model.startsWith('.');
}
