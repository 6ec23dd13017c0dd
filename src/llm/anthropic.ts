import Anthropic from '@anthropic-ai/sdk';
import { redactUrl } from '../config/config.ts';
import { explainFailure, llmError, LlmProviderError, type ProviderContext } from './errors.ts';
import { LLM_RETRY_DEFAULTS, type LlmProvider, type LlmProviderOptions, type LlmReply, type LlmRequest } from './llm.ts';
import { hostOf, isRetryableStatus, retryPolicy, withRetries, type FailureInfo, type RetryPolicy } from '../remote/retry.ts';

/**
 * The newest Sonnet-class id in the installed SDK's `Model` union (@anthropic-ai/sdk 1.13.0):
 * Sonnet balances quality, speed and price for a one-shot prompt rewrite.
 */
export const ANTHROPIC_DEFAULT_MODEL = 'claude-sonnet-5-5';
export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';
const DEFAULT_MAX_TOKENS = 4096;

/**
 * Claude through the official SDK's Messages API (`POST /v1/messages`).
 *
 * Retries are done here, not by the SDK (created with maxRetries 0): 408, 429, 529 (overloaded),
 * other 5xx and lost connections back off exponentially with jitter and honour Retry-After.
 */
export class AnthropicProvider implements LlmProvider {
  readonly name = 'anthropic' as const;
  readonly model: string;

  // ES private fields: unlike TypeScript's `private`, they are not enumerable, so neither
  // JSON.stringify nor console.log of a provider can show the key (or the client that holds it).
  readonly #apiKey: string | undefined;
  readonly #baseURL: string;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  #client: Anthropic | undefined;

  constructor(options: LlmProviderOptions = {}) {
    this.model = options.model || ANTHROPIC_DEFAULT_MODEL;
    this.#apiKey = options.apiKey || undefined;
    this.#baseURL = options.baseURL || ANTHROPIC_DEFAULT_BASE_URL;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#retry = retryPolicy(options, LLM_RETRY_DEFAULTS);
  }

  async complete(req: LlmRequest): Promise<LlmReply> {
    const client = this.getClient();
    // No temperature: the Messages API version this SDK speaks (2026-10-21) no longer takes it.
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: this.model,
      max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS,
      ...(req.system ? { system: req.system } : {}),
      messages: [{ role: 'user', content: req.prompt }],
    };
    const message = await withRetries(
      () => client.messages.create(params),
      classify,
      this.#retry,
      (err, attempts) => this.explain(err, attempts),
    );
    const text = message.content
      .filter((block): block is Anthropic.TextBlock => block.type === 'text')
      .map((block) => block.text)
      .join('');
    if (text === '') throw llmError(this.context(), `returned no text (stop_reason: ${message.stop_reason ?? 'none'})`);
    return {
      text,
      model: message.model || this.model,
      usage: { inputTokens: message.usage?.input_tokens ?? 0, outputTokens: message.usage?.output_tokens ?? 0 },
      ...(message.stop_reason ? { stopReason: message.stop_reason } : {}),
    };
  }

  private getClient(): Anthropic {
    if (!this.#client) {
      // A proxy at another address may need no key; api.anthropic.com always does.
      const custom = hostOf(this.#baseURL) !== hostOf(ANTHROPIC_DEFAULT_BASE_URL);
      if (!this.#apiKey && !custom) {
        throw llmError(this.context(), 'no API key; set ANTHROPIC_API_KEY (or choose another provider)', {
          envVar: 'ANTHROPIC_API_KEY',
        });
      }
      this.#client = new Anthropic({
        // Passing the key keeps the SDK from looking for other credentials (ANTHROPIC_AUTH_TOKEN, profiles).
        apiKey: this.#apiKey ?? 'not-needed',
        baseURL: this.#baseURL,
        timeout: this.#timeoutMs,
        maxRetries: 0,
      });
    }
    return this.#client;
  }

  private context(): ProviderContext {
    return {
      provider: 'anthropic',
      label: 'Anthropic Messages API',
      model: this.model,
      where: redactUrl(this.#baseURL),
      keyVar: 'ANTHROPIC_API_KEY',
      secret: this.#apiKey,
    };
  }

  private explain(err: unknown, attempts: number): Error {
    if (err instanceof LlmProviderError) return err;
    const base = { attempts, timeoutMs: this.#timeoutMs };
    if (err instanceof Anthropic.APIError) {
      return explainFailure(this.context(), {
        ...base,
        status: err.status,
        message: err.apiMessage ?? err.message,
        timedOut: err instanceof Anthropic.APIConnectionTimeoutError,
      });
    }
    return explainFailure(this.context(), { ...base, message: err instanceof Error ? err.message : String(err) });
  }
}

function classify(err: unknown): FailureInfo {
  // APIConnectionError covers refused connections and timeouts (APIConnectionTimeoutError).
  if (err instanceof Anthropic.APIConnectionError) return { retryable: true };
  if (err instanceof Anthropic.APIError) return { retryable: isRetryableStatus(err.status), headers: err.headers };
  return { retryable: false };
}
