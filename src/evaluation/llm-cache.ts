import { createHash } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import type { LlmProvider, LlmReply, LlmRequest } from '../llm/llm.ts';

/**
 * Every model call of an evaluation goes through the llm_call_cache table: a call made before with
 * the same inputs is answered from it and costs nothing, so a rerun of a failed run pays only for
 * what it had not done.
 */

export interface CallTarget {
  provider: LlmProvider;
  /** The endpoint (redacted): the same model name on two servers is two models. */
  endpoint: string;
}

export interface CachedReply extends LlmReply {
  cached: boolean;
  latencyMs: number;
}

/** sha256 over the provider, endpoint, model, system prompt, prompt, max tokens and temperature. */
export function callKey(target: { name: string; model: string; endpoint: string }, req: LlmRequest): string {
  const parts = [target.name, target.endpoint, target.model, req.system ?? null, req.prompt, req.maxTokens ?? null, req.temperature ?? null];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export async function cachedKeys(db: Queryable, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const { rows } = await db.query<{ key: string }>(`SELECT key FROM llm_call_cache WHERE key = ANY ($1::text[])`, [keys]);
  return new Set(rows.map((r) => r.key));
}

export async function lookup(db: Queryable, key: string): Promise<LlmReply | null> {
  const { rows } = await db.query<{ text: string; model: string; inputTokens: number; outputTokens: number }>(
    `SELECT reply_text AS text, reply_model AS model, input_tokens AS "inputTokens", output_tokens AS "outputTokens"
       FROM llm_call_cache WHERE key = $1`,
    [key],
  );
  const r = rows[0];
  return r ? { text: r.text, model: r.model, usage: { inputTokens: r.inputTokens, outputTokens: r.outputTokens } } : null;
}

/**
 * The reply from the cache, or from the provider (and then cached). `knownMissing`: the caller
 * looked the key up in bulk a moment ago and it was not there, so the lookup is skipped (a reply
 * that another run cached since is then paid for again, once; the first stays).
 */
export async function cachedComplete(db: Queryable, target: CallTarget, req: LlmRequest, knownMissing = false): Promise<CachedReply> {
  const { provider } = target;
  const key = callKey({ name: provider.name, model: provider.model, endpoint: target.endpoint }, req);
  const t0 = performance.now();
  const hit = knownMissing ? null : await lookup(db, key);
  if (hit) return { ...hit, cached: true, latencyMs: Math.round(performance.now() - t0) };
  const reply = await provider.complete(req);
  const latencyMs = Math.round(performance.now() - t0);
  // Two runs asking the same at once both pay once; the first answer stays.
  await db.query(
    `INSERT INTO llm_call_cache (key, provider, model, reply_text, reply_model, input_tokens, output_tokens)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING`,
    [key, provider.name, provider.model, reply.text, reply.model, reply.usage.inputTokens, reply.usage.outputTokens],
  );
  return { ...reply, cached: false, latencyMs };
}
