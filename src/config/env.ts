import path from 'node:path';
import { ValidationError } from '../errors.ts';

/** Reading environment variables, the same way everywhere: blank means unset, bad values name the variable. */

/** The trimmed value, or undefined when unset or blank. */
export function envString(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** A positive integer, or undefined when unset or blank; anything else is an error naming `name`. */
export function envPositiveInt(raw: string | undefined, name: string): number | undefined {
  if (envString(raw) === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ValidationError(name, `must be a positive integer, got "${raw}"`);
  return n;
}

/** A whole number from 0 up, or undefined when unset or blank (0 usually turns a limit off). */
export function envNonNegativeInt(raw: string | undefined, name: string): number | undefined {
  if (envString(raw) === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ValidationError(name, `must be a whole number from 0 up, got "${raw}"`);
  return n;
}

/** A PostgreSQL memory setting such as `16MB` or `1GB`, or undefined when unset or blank. */
export function envMemorySize(value: string | undefined, name: string): string | undefined {
  const v = envString(value);
  if (v !== undefined && !/^\d+\s*(kB|MB|GB)$/.test(v)) throw new ValidationError(name, `must be a size such as 16MB or 1GB, got "${v}"`);
  return v;
}

/** One of `allowed`, or `fallback` when unset or blank. */
export function envOneOf<T extends string>(raw: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  const value = envString(raw);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ValidationError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return value as T;
}

/** Where Exemplar keeps its local state: the flag, else EXEMPLAR_DATA_DIR, else ./.exemplar. */
export function dataDirOf(env: NodeJS.ProcessEnv, override?: string): string {
  return path.resolve(override ?? env.EXEMPLAR_DATA_DIR ?? '.exemplar');
}
