import type OpenAI from 'openai';
import { redactUrl } from '../config/config.ts';
import { EmbeddingProviderError, ValidationError } from '../errors.ts';
import { ExemplarEmbedding, modelDimensions } from './embedding.ts';
import { l2normalize } from './normalize.ts';
import { hostOf, retryPolicy, scrub, withRetries, type RetryPolicy } from '../remote/retry.ts';

export const OPENAI_DEFAULT_MODEL = 'text-embedding-3-small';
const OPENAI_HOST = 'api.openai.com';

/** Output sizes of OpenAI's own models, so they work without EXEMPLAR_EMBEDDING_DIMENSIONS. */
export const OPENAI_KNOWN_DIMENSIONS: Record<string, number> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

export interface OpenAIEmbeddingOptions {
  /** Bearer key. Required for api.openai.com; other servers (Ollama, vLLM, ...) may ignore it. */
  apiKey?: string;
  /** Any OpenAI-compatible endpoint, e.g. http://localhost:11434/v1. Default: https://api.openai.com/v1. */
  baseURL?: string;
  /** Default "text-embedding-3-small". */
  model?: string;
  /**
   * Length of the vectors. When set, it is also sent to the API as `dimensions` (OpenAI's v3
   * models shorten their output to it). When unset, it comes from OPENAI_KNOWN_DIMENSIONS, and any
   * other model must be given one: Exemplar needs the size before the first call.
   */
  dimensions?: number;
  /** Inputs per request. Default 256 (OpenAI accepts up to 2048). */
  batchSize?: number;
  /** Milliseconds before one request is abandoned (and retried). Default 60 000. */
  timeoutMs?: number;
  /** Retries of one request after 429, 408, 5xx or a lost connection. Default 6. */
  maxRetries?: number;
  /** First retry waits about this long, doubling each time, with jitter. Default 500 ms. */
  retryBaseDelayMs?: number;
  /** Longest single wait, also the cap on a server's Retry-After. Default 30 000 ms. */
  retryMaxDelayMs?: number;
}

/**
 * Embeddings from OpenAI or any server that speaks its `/v1/embeddings` API (Ollama, vLLM,
 * LM Studio, Hugging Face TEI), through the official `openai` SDK.
 *
 * The model id is `openai:<model>@<dimensions>`. The server's address is deliberately not in it:
 * the same model name served from another host is taken to be the same model, so moving a server
 * does not invalidate indexes and caches.
 *
 * Retries are done here, not by the SDK (which is created with maxRetries 0). The SDK does back
 * off on 408/409/429/5xx and honours Retry-After, but its base delay is fixed at 0.5 s and its
 * Retry-After wait is uncapped; doing it here makes both configurable and testable.
 */
export class OpenAIEmbedding extends ExemplarEmbedding {
  readonly modelId: string;
  readonly dimensions: number;
  readonly cacheable = true;
  readonly model: string;

  private readonly apiKey: string | undefined;
  private readonly baseURL: string | undefined;
  /** Only sent when the caller chose a size; servers other than OpenAI often reject the field. */
  private readonly requestDimensions: number | undefined;
  private readonly batchSize: number;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private client: OpenAI | undefined;
  /** The SDK, loaded with the first request: a process that never calls the API never pays for it. */
  private sdk: typeof import('openai') | undefined;

  constructor(options: OpenAIEmbeddingOptions = {}) {
    super();
    this.model = options.model ?? OPENAI_DEFAULT_MODEL;
    this.apiKey = options.apiKey || undefined;
    this.baseURL = options.baseURL || undefined;
    this.requestDimensions = options.dimensions;
    const dimensions = modelDimensions('openai', this.model, options.dimensions, OPENAI_KNOWN_DIMENSIONS);
    this.dimensions = dimensions;
    this.modelId = `openai:${this.model}@${dimensions}`;
    this.batchSize = options.batchSize ?? 256;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retry = retryPolicy(options, { maxRetries: 6, baseDelayMs: 500, maxDelayMs: 30_000 });
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = new Array(texts.length);
    // The API rejects an empty string, and it has no content to embed: it gets the zero vector.
    const wanted: number[] = [];
    texts.forEach((t, i) => (t === '' ? (out[i] = new Float32Array(this.dimensions)) : wanted.push(i)));
    for (let b = 0; b < wanted.length; b += this.batchSize) {
      const idx = wanted.slice(b, b + this.batchSize);
      const vectors = await this.request(idx.map((i) => texts[i]));
      idx.forEach((i, k) => (out[i] = vectors[k]));
    }
    return out;
  }

  /** One request for one batch, with retries. */
  private async request(input: string[]): Promise<Float32Array[]> {
    return withRetries(
      async () => {
        const response = await (await this.getClient()).embeddings.create({
          model: this.model,
          input,
          encoding_format: 'float',
          ...(this.requestDimensions !== undefined ? { dimensions: this.requestDimensions } : {}),
        });
        return this.toVectors(response, input.length);
      },
      (err) => ({ retryable: isRetryable(this.sdk, err), headers: this.sdk && err instanceof this.sdk.APIError ? err.headers : undefined }),
      this.retry,
      (err) => this.explain(err),
    );
  }

  private toVectors(response: OpenAI.CreateEmbeddingResponse, n: number): Float32Array[] {
    const data = response?.data;
    if (!Array.isArray(data) || data.length !== n) {
      throw this.providerError(`returned ${Array.isArray(data) ? data.length : 'no'} embeddings for ${n} inputs`);
    }
    const out: Float32Array[] = new Array(n);
    // Results carry their input's index; do not rely on their order.
    for (const [k, item] of data.entries()) {
      const index = typeof item.index === 'number' ? item.index : k;
      const values = item.embedding as unknown;
      if (!Array.isArray(values) || values.length !== this.dimensions) {
        const got = Array.isArray(values) ? `${values.length}-dimensional vectors` : 'a vector that is not a list of numbers';
        throw this.providerError(
          `returned ${got}, but ${this.modelId} expects ${this.dimensions}; set EXEMPLAR_EMBEDDING_DIMENSIONS to the model's size`,
        );
      }
      if (index < 0 || index >= n || out[index]) throw this.providerError(`returned a bad or repeated index ${index}`);
      out[index] = l2normalize(Float32Array.from(values as number[]));
    }
    return out;
  }

  private async getClient(): Promise<OpenAI> {
    if (!this.client) {
      const custom = this.baseURL !== undefined && hostOf(this.baseURL) !== OPENAI_HOST;
      if (!this.apiKey && !custom) {
        throw this.providerError('no API key; set OPENAI_API_KEY (or OPENAI_BASE_URL for a server that needs none)', {
          envVar: 'OPENAI_API_KEY',
        });
      }
      this.sdk ??= await import('openai');
      this.client = new this.sdk.default({
        // Local servers usually need no key, but the SDK insists on one.
        apiKey: this.apiKey ?? 'not-needed',
        baseURL: this.baseURL,
        timeout: this.timeoutMs,
        maxRetries: 0,
      });
    }
    return this.client;
  }

  /** Turns an SDK error into one that says what to do, without the key in it. */
  private explain(err: unknown): Error {
    if (err instanceof EmbeddingProviderError) return err;
    const APIError = this.sdk?.APIError;
    if (APIError && err instanceof APIError && (err.status === 401 || err.status === 403)) {
      // The server's own message is left out on purpose: OpenAI's echoes part of the key.
      const what = err.status === 401 ? 'rejected the API key (401)' : 'refused access (403)';
      return this.providerError(`${what}; set OPENAI_API_KEY to a valid key for this server`, {
        status: err.status,
        envVar: 'OPENAI_API_KEY',
      });
    }
    if (APIError && err instanceof APIError) {
      const status = err.status === undefined ? 'no response' : `HTTP ${err.status}`;
      return this.providerError(`failed (${status}): ${this.scrub(err.message)}`, { status: err.status });
    }
    return this.providerError(`failed: ${this.scrub(err instanceof Error ? err.message : String(err))}`);
  }

  private providerError(what: string, details: Record<string, unknown> = {}): EmbeddingProviderError {
    const where = redactUrl(this.baseURL ?? `https://${OPENAI_HOST}/v1`);
    return new EmbeddingProviderError(`OpenAI-compatible embeddings at ${where} (model "${this.model}"): ${what}`, {
      provider: 'openai',
      model: this.model,
      ...details,
    });
  }

  /** Belt and braces: no message we build may carry the key, whatever the server said. */
  private scrub(message: string): string {
    return scrub(message, this.apiKey);
  }
}

/** 429 (rate limit), 408 (timeout), 409 (lock), 5xx, and connection failures or timeouts. */
function isRetryable(sdk: typeof import('openai') | undefined, err: unknown): boolean {
  if (!sdk) return false; // failed before a request was made
  if (err instanceof sdk.APIConnectionError) return true; // includes APIConnectionTimeoutError
  if (!(err instanceof sdk.APIError) || err.status === undefined) return false;
  return err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500;
}
