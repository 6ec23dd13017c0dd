import { ValidationError } from '../errors.ts';
import type { LlmConfig } from '../config/providers.ts';
import { AnthropicProvider } from './anthropic.ts';
import type { LlmProvider } from './llm.ts';
import { OpenAIChatProvider } from './openai.ts';

export { DEFAULT_LLM_TIMEOUT_MS, loadLlmConfig, type LlmConfig } from '../config/providers.ts';
export { LLM_RETRY_DEFAULTS, type LlmProvider, type LlmProviderOptions, type LlmReply, type LlmRequest } from './llm.ts';

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

