import type { RetryPolicy } from '../remote/retry.ts';

// What an LLM provider is. The providers import this, and provider.ts builds them, so neither imports the other.

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


/** Retries of one LLM request: a rewrite is worth waiting for, so patient defaults. */
export const LLM_RETRY_DEFAULTS: RetryPolicy = { maxRetries: 4, baseDelayMs: 1000, maxDelayMs: 60_000 };
