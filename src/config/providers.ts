import path from 'node:path';
import { ValidationError } from '../errors.ts';
import { envPositiveInt, envString } from './env.ts';

// The providers' settings live here, not beside the providers, so that reading the configuration
// loads no SDK and config/ depends on nothing in the domain.

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

/** What the LLM providers read from the environment. */
export interface LlmConfig {
  /** ANTHROPIC_API_KEY. */
  anthropicApiKey?: string;
  /** ANTHROPIC_BASE_URL: a proxy or gateway in front of the Messages API. */
  anthropicBaseUrl?: string;
  /** OPENAI_API_KEY. */
  openaiApiKey?: string;
  /** OPENAI_BASE_URL: any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio). */
  openaiBaseUrl?: string;
  /** EXEMPLAR_LLM_MODEL: overrides the provider's default model. */
  model?: string;
  /** EXEMPLAR_LLM_TIMEOUT_MS: per-request timeout. Default 120 000. */
  timeoutMs: number;
  /** EXEMPLAR_LLM_PRICE="in,out": USD per million input and output tokens, for models not in the evaluation's price table (or to correct it). */
  price?: { inputPerMTok: number; outputPerMTok: number };
  /** Not read from the environment: for library callers and tests. */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
}

/** Where OPENAI_BASE_URL points when unset. */
export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export const DEFAULT_LLM_TIMEOUT_MS = 120_000;

export function loadLlmConfig(env: NodeJS.ProcessEnv = process.env): LlmConfig {
  return {
    anthropicApiKey: envString(env.ANTHROPIC_API_KEY),
    anthropicBaseUrl: envString(env.ANTHROPIC_BASE_URL),
    openaiApiKey: envString(env.OPENAI_API_KEY),
    openaiBaseUrl: envString(env.OPENAI_BASE_URL),
    model: envString(env.EXEMPLAR_LLM_MODEL),
    timeoutMs: envPositiveInt(env.EXEMPLAR_LLM_TIMEOUT_MS, 'EXEMPLAR_LLM_TIMEOUT_MS') ?? DEFAULT_LLM_TIMEOUT_MS,
    price: envPrice(env.EXEMPLAR_LLM_PRICE),
  };
}

/** "3,15": USD per million input tokens, then output tokens. */
function envPrice(raw: string | undefined): LlmConfig['price'] {
  const value = envString(raw);
  if (value === undefined) return undefined;
  const parts = value.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 2 || parts.some((n) => !Number.isFinite(n) || n < 0) || value.split(',').some((p) => p.trim() === '')) {
    throw new ValidationError('EXEMPLAR_LLM_PRICE', `must be two prices in USD per million tokens, input then output, such as "3,15" (got "${raw}")`);
  }
  return { inputPerMTok: parts[0], outputPerMTok: parts[1] };
}
