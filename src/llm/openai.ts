import OpenAI from 'openai';
import { redactUrl } from '../config/config.ts';
import { explainFailure, llmError, LlmProviderError, type ProviderContext } from './errors.ts';
import { LLM_RETRY_DEFAULTS, type LlmProvider, type LlmProviderOptions, type LlmReply, type LlmRequest } from './llm.ts';
import { hostOf, isRetryableStatus, retryPolicy, withRetries, type FailureInfo, type RetryPolicy } from '../remote/retry.ts';

export const OPENAI_CHAT_DEFAULT_MODEL = 'gpt-4o-mini';
import { OPENAI_DEFAULT_BASE_URL } from '../config/providers.ts';

export { OPENAI_DEFAULT_BASE_URL };
const DEFAULT_MAX_TOKENS = 4096;

/**
 * OpenAI, or any server that speaks its Chat Completions API (`POST /v1/chat/completions`):
 * Ollama, vLLM, LM Studio, through OPENAI_BASE_URL. Uses the official `openai` SDK.
 *
 * Retries are done here, not by the SDK (created with maxRetries 0): 408, 429, 5xx and lost
 * connections back off exponentially with jitter and honour Retry-After.
 */
export class OpenAIChatProvider implements LlmProvider {
  readonly name = 'openai' as const;
  readonly model: string;

  // ES private fields: not enumerable, so JSON.stringify or console.log never shows the key.
  readonly #apiKey: string | undefined;
  readonly #baseURL: string;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  #client: OpenAI | undefined;

  constructor(options: LlmProviderOptions = {}) {
    this.model = options.model || OPENAI_CHAT_DEFAULT_MODEL;
    this.#apiKey = options.apiKey || undefined;
    this.#baseURL = options.baseURL || OPENAI_DEFAULT_BASE_URL;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#retry = retryPolicy(options, LLM_RETRY_DEFAULTS);
  }

  async complete(req: LlmRequest): Promise<LlmReply> {
    const client = this.getClient();
    const maxTokens = req.maxTokens ?? DEFAULT_MAX_TOKENS;
    const params: OpenAI.ChatCompletionCreateParamsNonStreaming = {
      model: this.model,
      messages: [
        ...(req.system ? [{ role: 'system' as const, content: req.system }] : []),
        { role: 'user' as const, content: req.prompt },
      ],
      // OpenAI itself wants max_completion_tokens (its reasoning models refuse max_tokens);
      // compatible servers (Ollama, vLLM, LM Studio) reliably know only max_tokens.
      ...(this.isOpenAI() ? { max_completion_tokens: maxTokens } : { max_tokens: maxTokens }),
      ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    };
    const completion = await withRetries(
      () => client.chat.completions.create(params),
      classify,
      this.#retry,
      (err, attempts) => this.explain(err, attempts),
    );
    const choice = completion.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string' || text === '') {
      const why = choice?.message?.refusal ? `refused: ${choice.message.refusal}` : `finish_reason: ${choice?.finish_reason ?? 'none'}`;
      throw llmError(this.context(), `returned no text (${why})`);
    }
    return {
      text,
      model: completion.model || this.model,
      // Some compatible servers send no usage; count it as unknown (0) rather than failing.
      usage: { inputTokens: completion.usage?.prompt_tokens ?? 0, outputTokens: completion.usage?.completion_tokens ?? 0 },
      ...(choice.finish_reason ? { stopReason: choice.finish_reason } : {}),
    };
  }

  private isOpenAI(): boolean {
    return hostOf(this.#baseURL) === hostOf(OPENAI_DEFAULT_BASE_URL);
  }

  private getClient(): OpenAI {
    if (!this.#client) {
      if (!this.#apiKey && this.isOpenAI()) {
        throw llmError(this.context(), 'no API key; set OPENAI_API_KEY (or OPENAI_BASE_URL for a server that needs none)', {
          envVar: 'OPENAI_API_KEY',
        });
      }
      this.#client = new OpenAI({
        // Local servers usually need no key, but the SDK insists on one.
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
      provider: 'openai',
      label: 'OpenAI-compatible chat API',
      model: this.model,
      where: redactUrl(this.#baseURL),
      keyVar: 'OPENAI_API_KEY',
      secret: this.#apiKey,
    };
  }

  private explain(err: unknown, attempts: number): Error {
    if (err instanceof LlmProviderError) return err;
    const base = { attempts, timeoutMs: this.#timeoutMs };
    if (err instanceof OpenAI.APIError) {
      const apiMessage = (err.error as { message?: unknown } | undefined)?.message;
      return explainFailure(this.context(), {
        ...base,
        status: err.status,
        message: typeof apiMessage === 'string' ? apiMessage : err.message,
        timedOut: err instanceof OpenAI.APIConnectionTimeoutError,
      });
    }
    return explainFailure(this.context(), { ...base, message: err instanceof Error ? err.message : String(err) });
  }
}

function classify(err: unknown): FailureInfo {
  // APIConnectionError covers refused connections and timeouts (APIConnectionTimeoutError).
  if (err instanceof OpenAI.APIConnectionError) return { retryable: true };
  if (err instanceof OpenAI.APIError) return { retryable: isRetryableStatus(err.status), headers: err.headers };
  return { retryable: false };
}
