import { z } from 'zod';
import { ValidationError } from './errors.ts';

/** Parses `value` with `schema`, or throws a ValidationError naming the first bad field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, line?: number): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ValidationError(issue.path.join('.') || 'input', describeIssue(issue, value), line);
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  const got = issue.path.reduce<unknown>(
    (v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k as PropertyKey] : undefined),
    root,
  );
  if (issue.code === 'invalid_type') {
    return got === undefined ? 'is required' : `must be a ${issue.expected}, got ${show(got)}`;
  }
  return `${issue.message}${got !== undefined && typeof got !== 'object' ? ` (got ${show(got)})` : ''}`;
}

function show(v: unknown): string {
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a UUID');

export function isUuid(value: string): boolean {
  return uuid.safeParse(value).success;
}

/** An ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z. */
export const isoTime = z
  .string()
  .refine((s) => /^\d{4}-\d\d-\d\d/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date or time, e.g. 2026-01-31T12:00:00Z');
