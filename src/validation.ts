import { z } from 'zod';
import { ValidationError } from './errors.ts';

/** Limits every input is held to before its schema sees it. */
export interface InputLimits {
  /** Deepest nesting of objects and arrays, counted from the input's root (EXEMPLAR_MAX_JSON_DEPTH). */
  maxJsonDepth: number;
}

/**
 * Parses `value` with `schema`, or throws a ValidationError naming the first bad field. Every value
 * is first checked for what no schema says and PostgreSQL cannot store (see checkInputValue); with
 * `limits`, its depth too.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, line?: number, limits?: InputLimits): z.output<S> {
  checkInputValue(value, { line, maxDepth: limits?.maxJsonDepth, depthVariable: 'EXEMPLAR_MAX_JSON_DEPTH' });
  return parseChecked(schema, value, line);
}

/** parseInput without checkInputValue, for a value that has been through it already (a file's line). */
export function parseChecked<S extends z.ZodType>(schema: S, value: unknown, line?: number): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ValidationError(issue.path.join('.') || 'input', describeIssue(issue, value), line);
}

/**
 * Refuses, naming the field:
 * - a NUL character (U+0000) in any string or key: PostgreSQL cannot store it in text or jsonb;
 * - a lone UTF-16 surrogate: it has no UTF-8 form, and would be stored silently as U+FFFD;
 * - a number that is not finite (JSON's 1e309 parses to Infinity; JSON.stringify would store null);
 * - nesting deeper than `maxDepth` (`{}` is one level), when given.
 * Iterative, so no input is too deep for the check itself. In a multi-line string (a file's
 * contents) the line of the bad character is named.
 */
export function checkInputValue(value: unknown, opts: CheckOptions = {}): void {
  const stack: WalkNode[] = [];
  visit(value, undefined, undefined, 0, opts, stack);
  while (stack.length > 0) {
    const node = stack.pop()!;
    const { v, depth } = node;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], node, i, depth + 1, opts, stack);
    } else {
      for (const key of Object.keys(v)) {
        const bad = opts.strings === false ? undefined : textProblem(key, opts.line, 'the key');
        if (bad) throw new ValidationError(fieldName(pathOf(opts, node)), bad.reason, bad.line);
        visit((v as Record<string, unknown>)[key], node, key, depth + 1, opts, stack);
      }
    }
  }
}

interface CheckOptions {
  /** The file line the value came from, named in errors. */
  line?: number;
  maxDepth?: number;
  /** The variable that sets maxDepth, named in errors. */
  depthVariable?: string;
  /** The path of `value` itself, e.g. ['metadata']. */
  root?: (string | number)[];
  /** false: depth and numbers only (the strings were checked already). */
  strings?: boolean;
}

/** A container met on the walk, linked to its parent: a path is built only for an error. */
interface WalkNode {
  v: object;
  key?: string | number;
  parent?: WalkNode;
  depth: number;
}

/** One value: a string's or a number's checks, or a container's depth and a place on the stack. */
function visit(v: unknown, parent: WalkNode | undefined, key: string | number | undefined, depth: number, opts: CheckOptions, stack: WalkNode[]): void {
  if (typeof v === 'string') {
    const bad = opts.strings === false ? undefined : textProblem(v, opts.line);
    if (bad) throw new ValidationError(fieldName(pathOf(opts, parent, key)), bad.reason, bad.line);
  } else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ValidationError(fieldName(pathOf(opts, parent, key)), `must be a finite number, got ${String(v)}`, opts.line);
  } else if (v !== null && typeof v === 'object') {
    const node: WalkNode = { v, key, parent, depth };
    const { maxDepth, depthVariable } = opts;
    if (maxDepth !== undefined && depth + 1 > maxDepth) {
      throw new ValidationError(fieldName(pathOf(opts, node)), `nests deeper than ${maxDepth} levels${depthVariable ? ` (${depthVariable})` : ''}`, opts.line, {
        limit: maxDepth,
        ...(depthVariable ? { variable: depthVariable } : {}),
      });
    }
    stack.push(node);
  }
}

function pathOf(opts: CheckOptions, n: WalkNode | undefined, last?: string | number): (string | number)[] {
  const keys: (string | number)[] = last === undefined ? [] : [last];
  for (let at = n; at?.key !== undefined; at = at.parent) keys.push(at.key);
  return [...(opts.root ?? []), ...keys.reverse()];
}

/** The string checks of checkInputValue, for one string: what is wrong with it, if anything. */
function textProblem(s: string, line: number | undefined, key?: 'the key'): { reason: string; line?: number } | undefined {
  const nul = s.indexOf('\0');
  const bad = nul >= 0 ? nul : isWellFormed(s) ? -1 : firstLoneSurrogate(s);
  if (bad < 0) return undefined;
  const problem = nul >= 0 ? 'a NUL character (U+0000)' : 'a lone UTF-16 surrogate';
  const why = nul >= 0 ? 'PostgreSQL cannot store it' : 'it is not valid Unicode';
  // In a file's contents (a multi-line value given without a line) the line of the file is named.
  const where = line === undefined ? lineOf(s, bad) : undefined;
  const at = where ? `character ${where.column + 1}` : `character ${bad + 1}`;
  return { reason: `${key ? `the key ${show(s)} contains` : 'contains'} ${problem} at ${at} (${why})`, line: line ?? where?.line };
}

/** The line (1-based) and column (0-based) of position `i`, when `s` has several lines. */
function lineOf(s: string, i: number): { line: number; column: number } | undefined {
  if (s.indexOf('\n') < 0) return undefined;
  let line = 1;
  let start = 0;
  for (let nl = s.indexOf('\n'); nl >= 0 && nl < i; nl = s.indexOf('\n', nl + 1)) {
    line++;
    start = nl + 1;
  }
  return { line, column: i - start };
}

const nativeWellFormed = (String.prototype as { isWellFormed?: () => boolean }).isWellFormed;

function isWellFormed(s: string): boolean {
  return nativeWellFormed ? nativeWellFormed.call(s) : firstLoneSurrogate(s) < 0;
}

function firstLoneSurrogate(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else return i;
  }
  return -1;
}

/** A path as zod names it (`examples.3.metadata`), shortened when a deep path would flood the message. */
function fieldName(path: (string | number)[]): string {
  const shown = path.slice(0, 8).map(String).join('.');
  return path.length > 8 ? `${shown}...` : shown || 'input';
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
  // JSON.stringify shows NaN and ±Infinity as null, which is not what was sent.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
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
