/**
 * Backoff for calls to remote APIs (LLM providers, OpenAI-compatible embeddings): one policy,
 * exponential backoff with "equal jitter", capped, and a server's
 * Retry-After honoured (also capped). Retries happen here rather than in the SDKs (which are
 * created with maxRetries 0) so the delays are configurable and tests can make them tiny.
 */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** The first retry waits about this long, doubling each time. */
  baseDelayMs: number;
  /** Longest single wait, also the cap on a server's Retry-After. */
  maxDelayMs: number;
}

/** A policy from a client's options, with that client's defaults for what the options leave out. */
export function retryPolicy(
  options: { maxRetries?: number; retryBaseDelayMs?: number; retryMaxDelayMs?: number },
  defaults: RetryPolicy,
): RetryPolicy {
  return {
    maxRetries: options.maxRetries ?? defaults.maxRetries,
    baseDelayMs: options.retryBaseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: options.retryMaxDelayMs ?? defaults.maxDelayMs,
  };
}

/** What the retry loop needs to know about a failure. */
export interface FailureInfo {
  retryable: boolean;
  /** Response headers of an HTTP error, for Retry-After. */
  headers?: Headers;
}

/** Calls `call` until it succeeds, a failure is not retryable, or the retries run out. */
export async function withRetries<T>(
  call: () => Promise<T>,
  classify: (err: unknown) => FailureInfo,
  policy: RetryPolicy,
  onGiveUp: (err: unknown, attempts: number) => Error,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const info = classify(err);
      if (attempt >= policy.maxRetries || !info.retryable) throw onGiveUp(err, attempt + 1);
      await sleep(retryDelay(attempt, info.headers, policy));
    }
  }
}

/** 408 (timeout), 429 (rate limit), and every 5xx, which includes Anthropic's 529 (overloaded). */
export function isRetryableStatus(status: number | undefined): boolean {
  return status !== undefined && (status === 408 || status === 429 || status >= 500);
}

export function retryDelay(attempt: number, headers: Headers | undefined, policy: RetryPolicy): number {
  const retryAfter = retryAfterMs(headers);
  if (retryAfter !== undefined) return Math.min(retryAfter, policy.maxDelayMs);
  // Half fixed, half random, so many clients that failed together do not retry together.
  const exp = Math.min(policy.baseDelayMs * 2 ** attempt, policy.maxDelayMs);
  return exp / 2 + Math.random() * (exp / 2);
}

/** The wait a server asked for: `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers?.get('retry-after');
  if (!raw) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Replaces every occurrence of `secret` in `text`: no message we build may carry a key. */
export function scrub(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

export function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
