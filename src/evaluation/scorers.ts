import { RE2JS } from 're2js';
import { ValidationError } from '../errors.ts';
import type { EvalChecks, EvalScores } from './run-types.ts';

/**
 * Offline scorers of evaluation runs (issue 15): they need no model, so every run has them, and a
 * run with the judge turned off is scored by them alone.
 */

/** Longest regular expression a check may give. */
export const MAX_REGEX_LENGTH = 500;
/** Only this much of an answer is matched against a regular expression (an answer of 4,096 tokens is about 16,000 characters). */
export const MAX_REGEX_INPUT = 20_000;

/** A compiled regex check. */
export interface AnswerPattern {
  test(text: string): boolean;
}

/**
 * Compiles a regex check with RE2's linear-time engine (re2js): a check comes from any key with
 * write access, and JavaScript's backtracking engine can take minutes on patterns such as (a|a)*b,
 * holding the server's one thread. RE2 syntax is JavaScript's without backreferences and lookaround.
 */
export function compilePattern(pattern: string): AnswerPattern {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (err) {
    throw new ValidationError('checks.regex', `is not a valid regular expression for RE2 (no backreferences or lookaround): ${(err as Error).message}`);
  }
  return { test: (text) => compiled.matcher(text).find() };
}

/** Checks as given, validated: every error names its field. The regular expression compiles once here. */
export function validateChecks(checks: EvalChecks | undefined): { checks: EvalChecks; regex: AnswerPattern | null } {
  const c = checks ?? {};
  for (const key of Object.keys(c)) {
    if (!['contains', 'exact', 'regex', 'json'].includes(key)) throw new ValidationError(`checks.${key}`, 'unknown check; use contains, exact, regex or json');
  }
  if (c.contains !== undefined && (typeof c.contains !== 'string' || c.contains === '')) throw new ValidationError('checks.contains', 'must be a non-empty text');
  if (c.exact !== undefined && typeof c.exact !== 'boolean') throw new ValidationError('checks.exact', 'must be true or false');
  if (c.json !== undefined && typeof c.json !== 'boolean') throw new ValidationError('checks.json', 'must be true or false');
  let regex: AnswerPattern | null = null;
  if (c.regex !== undefined) {
    if (typeof c.regex !== 'string' || c.regex === '') throw new ValidationError('checks.regex', 'must be a non-empty regular expression');
    if (c.regex.length > MAX_REGEX_LENGTH) throw new ValidationError('checks.regex', `is ${c.regex.length} characters; at most ${MAX_REGEX_LENGTH}`);
    regex = compilePattern(c.regex);
  }
  // Only the checks asked for, in a fixed order, so equal configurations hash equally.
  const normal: EvalChecks = {};
  if (c.contains !== undefined) normal.contains = c.contains;
  if (c.exact) normal.exact = true;
  if (regex) normal.regex = c.regex;
  if (c.json) normal.json = true;
  return { checks: normal, regex };
}

/** The cosine of two L2-normalised vectors (the embedders return normalised vectors). */
export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot;
}

/**
 * The similarity score: (1 + cos(answer, reference) − max(0, max cos(answer, contrast))) / 2,
 * clamped to 0..1. An answer like the reference and unlike every bad answer scores near 1; one
 * closer to a bad answer than to the reference scores below 1/2. Without contrasts the bad side
 * counts as 0, so the score is (1 + cos(answer, reference)) / 2 on the same scale.
 */
export function similarityScore(answer: Float32Array, reference: Float32Array, contrasts: Float32Array[]): Pick<EvalScores, 'similarity' | 'referenceCosine' | 'contrastCosine'> {
  const referenceCosine = cosine(answer, reference);
  const contrastCosine = contrasts.length ? Math.max(...contrasts.map((c) => cosine(answer, c))) : null;
  const similarity = Math.min(1, Math.max(0, (1 + referenceCosine - Math.max(0, contrastCosine ?? 0)) / 2));
  return { similarity: round(similarity), referenceCosine: round(referenceCosine), contrastCosine: contrastCosine === null ? null : round(contrastCosine) };
}

/** Each asked-for check: 1 when the answer passes, 0 when not. */
export function checkScores(answer: string, reference: string, checks: EvalChecks, regex: AnswerPattern | null): Partial<EvalScores> {
  const s: Partial<EvalScores> = {};
  if (checks.exact) s.exact = answer.trim() === reference.trim() ? 1 : 0;
  if (checks.contains !== undefined) s.contains = answer.includes(checks.contains) ? 1 : 0;
  if (regex) s.regex = regex.test(answer.slice(0, MAX_REGEX_INPUT)) ? 1 : 0;
  if (checks.json) s.json = isJson(answer) ? 1 : 0;
  return s;
}

/** Valid JSON after trimming; a Markdown ```json fence around it is allowed, since models add one. */
export function isJson(text: string): boolean {
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(text.trim());
  try {
    JSON.parse(fenced ? fenced[1] : text.trim());
    return true;
  } catch {
    return false;
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
