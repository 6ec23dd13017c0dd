import { ExemplarError } from '../errors.ts';

/**
 * Which budget an operation spends: `search` for the calls an agent makes all day (search, SQL),
 * `heavy` for those that take seconds of CPU or an LLM's money (optimize, dataset builds, runs,
 * relevance evaluation).
 */
export type RateClass = 'search' | 'heavy';

/** Calls per minute per API key for each class; 0 turns a class's limit off. */
export type RateLimits = Record<RateClass, number>;

export const RATE_LIMIT_VARIABLES: Record<RateClass, string> = {
  search: 'EXEMPLAR_RATE_LIMIT_SEARCH',
  heavy: 'EXEMPLAR_RATE_LIMIT_HEAVY',
};

/** A key spent its budget: 429, with the seconds until one more call is allowed. */
export class RateLimitedError extends ExemplarError {
  readonly code = 'rate_limited';
  readonly status = 429;
}

/**
 * A token bucket per key and class, in this process's memory. A bucket holds ten seconds' worth of
 * calls, so a burst passes, and refills at the per-minute rate. With several replicas each keeps
 * its own buckets: a key can make up to N times the limit across N replicas.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Spends one call of `key`'s `rateClass` budget, or throws RateLimitedError. */
  take(key: string, rateClass: RateClass): void {
    const perMinute = this.limits[rateClass];
    if (!perMinute) return;
    const capacity = Math.max(1, Math.ceil(perMinute / 6));
    const perMs = perMinute / 60_000;
    const id = `${rateClass}\u0000${key}`;
    const now = this.now();
    const bucket = this.buckets.get(id) ?? { tokens: capacity, at: now };
    bucket.tokens = Math.min(capacity, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    this.buckets.set(id, bucket);
    if (bucket.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      const variable = RATE_LIMIT_VARIABLES[rateClass];
      throw new RateLimitedError(
        `this key made more ${rateClass} calls than the limit of ${perMinute} a minute (${variable}); retry in ${retryAfterSeconds} s`,
        { limit: perMinute, variable, retryAfterSeconds },
      );
    }
    bucket.tokens -= 1;
  }
}
