import path from 'node:path';
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
  };
}
