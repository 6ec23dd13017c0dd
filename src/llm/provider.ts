import { ValidationError } from '../errors.ts';
import { AnthropicProvider } from './anthropic.ts';
import { OpenAIChatProvider } from './openai.ts';
import { envPositiveInt, envString } from '../config/env.ts';
import type { RetryPolicy } from '../remote/retry.ts';

/** One single-turn request: an optional system prompt and one user message. */
export interface LlmRequest {
  system?: string;
  prompt: string;
  /** Most tokens to generate. Default 4096. */
  maxTokens?: number;
  /** Sent to OpenAI-compatible servers; the Anthropic Messages API no longer takes it. */
  temperature?: number;
}

export interface LlmReply {
  text: string;
  /** The model that answered, as the API reported it. */
  model: string;
  usage: { inputTokens: number; outputTokens: number };
  /** Why generation stopped (`end_turn`, `max_tokens`, `stop`, `length`, ...), when the API says. */
  stopReason?: string;
}

export interface LlmProvider {
  readonly name: 'anthropic' | 'openai';
  readonly model: string;
  /** Throws LlmProviderError when the call fails for good (after retries). */
  complete(req: LlmRequest): Promise<LlmReply>;
}

/** What a provider client is built from. Only `createLlmProvider` and tests need to know. */
export interface LlmProviderOptions {
  apiKey?: string;
  /** Default: the provider's own API. */
  baseURL?: string;
  model?: string;
  /** Milliseconds before one request is abandoned (and retried). Default 120 000. */
  timeoutMs?: number;
  /** Retries of one request after 408, 429, 529, other 5xx or a lost connection. Default 4. */
  maxRetries?: number;
  /** The first retry waits about this long, doubling each time, with jitter. Default 1000 ms. */
  retryBaseDelayMs?: number;
  /** Longest single wait, also the cap on a server's Retry-After. Default 60 000 ms. */
  retryMaxDelayMs?: number;
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

export const DEFAULT_LLM_TIMEOUT_MS = 120_000;
/** Retries of one LLM request: a rewrite is worth waiting for, so patient defaults. */
export const LLM_RETRY_DEFAULTS: RetryPolicy = { maxRetries: 4, baseDelayMs: 1000, maxDelayMs: 60_000 };

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

/**
 * The provider to use when none is asked for: Anthropic when its key is set, else an
 * OpenAI-compatible server when its key or OPENAI_BASE_URL is set (a local server needs no key),
 * else the offline heuristic.
 */
export function defaultProviderName(config: LlmConfig): 'anthropic' | 'openai' | 'heuristic' {
  if (config.anthropicApiKey) return 'anthropic';
  if (config.openaiApiKey || config.openaiBaseUrl) return 'openai';
  return 'heuristic';
}

/** Builds a provider. `model` wins over EXEMPLAR_LLM_MODEL, which wins over the provider's default. */
export function createLlmProvider(name: 'anthropic' | 'openai', config: LlmConfig, model?: string): LlmProvider {
  const common = {
    model: model || config.model,
    timeoutMs: config.timeoutMs,
    maxRetries: config.maxRetries,
    retryBaseDelayMs: config.retryBaseDelayMs,
    retryMaxDelayMs: config.retryMaxDelayMs,
  };
  if (name === 'anthropic') {
    return new AnthropicProvider({ ...common, apiKey: config.anthropicApiKey, baseURL: config.anthropicBaseUrl });
  }
  if (name === 'openai') {
    return new OpenAIChatProvider({ ...common, apiKey: config.openaiApiKey, baseURL: config.openaiBaseUrl });
  }
  throw new ValidationError('provider', `unknown LLM provider "${String(name)}"; use "anthropic" or "openai"`);
}

