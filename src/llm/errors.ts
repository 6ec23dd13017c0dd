import { ExemplarError } from '../errors.ts';
import { scrub } from '../remote/retry.ts';

/**
 * An LLM provider failed or is not set up: a rejected or missing API key, a request the API refused,
 * a server that kept failing after the retries. The message says what to change; it never holds a
 * secret (messages from the API are scrubbed of the key, and left out entirely on 401).
 */
export class LlmProviderError extends ExemplarError {
  readonly code = 'llm_provider_error';
  readonly status = 502;
}

/** Who failed: enough to name the provider, model, endpoint and the variable to fix. */
export interface ProviderContext {
  provider: 'anthropic' | 'openai';
  /** "Anthropic Messages API", "OpenAI-compatible chat API". */
  label: string;
  model: string;
  /** The endpoint, with any password in it redacted. */
  where: string;
  /** The environment variable that holds the key: ANTHROPIC_API_KEY or OPENAI_API_KEY. */
  keyVar: string;
  /** The key itself, only so it can be scrubbed from the API's messages. */
  secret?: string;
}

/** What went wrong with one call, in SDK-neutral terms. */
export interface FailureFacts {
  /** HTTP status; undefined when no response came back. */
  status?: number;
  /** The API's own explanation (`error.message` in the body), or the transport's. */
  message: string;
  timedOut?: boolean;
  attempts: number;
  timeoutMs: number;
}

export function llmError(ctx: ProviderContext, what: string, details: Record<string, unknown> = {}): LlmProviderError {
  return new LlmProviderError(`${ctx.label} at ${ctx.where} (model "${ctx.model}"): ${what}`, {
    provider: ctx.provider,
    model: ctx.model,
    ...details,
  });
}

/** Turns a failed call into an error that says what to do, without the key in it. */
export function explainFailure(ctx: ProviderContext, f: FailureFacts): LlmProviderError {
  const message = scrub(f.message, ctx.secret);
  const tries = f.attempts > 1 ? ` after ${f.attempts} attempts` : '';
  const details = { status: f.status, attempts: f.attempts };
  if (f.status === 401) {
    // The server's message is left out on purpose: OpenAI's echoes part of the key.
    return llmError(ctx, `rejected the API key (401); set ${ctx.keyVar} to a valid key for this server`, {
      ...details,
      envVar: ctx.keyVar,
    });
  }
  if (f.status === 403) {
    return llmError(ctx, `refused access (403): ${message}; check that the key in ${ctx.keyVar} may use this model`, {
      ...details,
      envVar: ctx.keyVar,
    });
  }
  if (f.timedOut) {
    return llmError(ctx, `no reply within ${f.timeoutMs} ms${tries}; raise EXEMPLAR_LLM_TIMEOUT_MS or try again later`, {
      ...details,
      timeoutMs: f.timeoutMs,
    });
  }
  if (f.status === undefined) return llmError(ctx, `could not reach the server${tries}: ${message}`, details);
  return llmError(ctx, `failed (HTTP ${f.status})${tries}: ${message}`, details);
}
