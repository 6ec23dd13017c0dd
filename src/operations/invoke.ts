import { z } from 'zod';
import { distance } from 'fastest-levenshtein';
import { canRead } from '../access/access.ts';
import { authorize } from '../access/authorize.ts';
import { RateLimiter } from '../access/rate-limit.ts';
import { NotFoundError } from '../errors.ts';
import { withSource } from '../examples/origin.ts';
import { parseInput } from '../validation.ts';
import type { Operation, OperationContext } from './operation.ts';

/**
 * How every door runs an operation: validate the input, check access, run, and return the result
 * as plain JSON. Doors differ only in how they get the input and show the output.
 */
export async function invoke<I extends z.ZodObject, O extends z.ZodType>(
  op: Operation<I, O>,
  rawInput: unknown,
  ctx: OperationContext,
): Promise<z.output<O>> {
  const started = performance.now();
  let outcome: 'ok' | 'error' = 'error';
  try {
    const input = parseInput(op.input, rawInput, undefined, ctx.app.config);
    await authorize(op, input, ctx);
    // Network keys only: the CLI (no key) is the database's owner.
    if (op.rateLimit && ctx.access.keyId) rateLimiterOf(ctx.app).take(ctx.access.keyId, op.rateLimit);
    const output = JSON.parse(JSON.stringify(await withSource(ctx.door ?? 'library', () => op.run(input, ctx)))) as z.output<O>;
    outcome = 'ok';
    return output;
  } catch (err) {
    throw err instanceof NotFoundError && err.details.entity === 'agent' && !err.details.similar ? await withSimilarAgents(err, ctx) : err;
  } finally {
    ctx.observe?.(op.name, (performance.now() - started) / 1000, outcome);
  }
}

/**
 * "agent not found" names up to five agents the caller can see whose names are close to the one
 * asked for (a typo, a different case, a prefix), so a model or a person can correct the call. Only
 * visible agents are named: a scoped key still learns nothing about the others.
 */
async function withSimilarAgents(err: NotFoundError, ctx: OperationContext): Promise<NotFoundError> {
  const asked = String(err.details.key).toLowerCase();
  const visible = await ctx.app.agents.names().then((all) => all.filter((a) => canRead(ctx.access, a.id)), () => []);
  const similar = visible
    .map((a) => ({ name: a.name, d: distance(asked, a.name.toLowerCase()) }))
    .filter(({ name, d }) => d <= Math.max(2, Math.floor(asked.length / 3)) || (asked.length >= 3 && name.toLowerCase().includes(asked)))
    .sort((a, b) => a.d - b.d || a.name.localeCompare(b.name))
    .slice(0, 5)
    .map((a) => a.name);
  return similar.length ? new NotFoundError('agent', String(err.details.key), similar) : err;
}

/** One rate limiter per open app, so a key's budget is shared by every door of the process. */
const rateLimiters = new WeakMap<object, RateLimiter>();
function rateLimiterOf(app: OperationContext['app']): RateLimiter {
  let limiter = rateLimiters.get(app);
  if (!limiter) rateLimiters.set(app, (limiter = new RateLimiter({ search: app.config.rateLimitSearch, heavy: app.config.rateLimitHeavy })));
  return limiter;
}
