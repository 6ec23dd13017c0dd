import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { Operation } from './operation.ts';

/** The parts of an input field's JSON Schema that doors need to read text into it. */
export interface FieldSchema {
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  default?: unknown;
  items?: FieldSchema;
  anyOf?: FieldSchema[];
}

/** An operation's input fields, as JSON Schema (what the CLI flags and REST query strings are built from). */
export function inputFields(op: Operation): { fields: Record<string, FieldSchema>; required: Set<string> } {
  const schema = z.toJSONSchema(op.input, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, FieldSchema>; required?: string[] };
  return { fields: schema.properties ?? {}, required: new Set(schema.required ?? []) };
}

/** The JSON type of a field, looking through optional and nullable wrappers. */
export function fieldType(field: FieldSchema): string {
  const t = field.type ?? field.anyOf?.find((p) => p.type && p.type !== 'null')?.type;
  return (Array.isArray(t) ? t.find((x) => x !== 'null') : t) ?? 'string';
}

/**
 * Converts text from a command line, a URL path or a query string to the type the field expects.
 * Only the conversion: zod checks the value afterwards, with its usual messages.
 */
export function fromText(raw: unknown, field: FieldSchema, name: string): unknown {
  const type = fieldType(field);
  if (Array.isArray(raw)) return type === 'array' ? raw.map((r) => (field.items ? fromText(r, field.items, name) : r)) : raw;
  if (type === 'number' || type === 'integer') {
    const n = raw === '' ? NaN : Number(raw);
    if (Number.isNaN(n)) throw new ValidationError(name, `must be a number, got ${JSON.stringify(raw)}`);
    return n;
  }
  if (type === 'boolean') return raw === true || raw === 'true' || raw === '1' || raw === '' ? true : raw === 'false' || raw === '0' ? false : raw;
  if (type === 'array' && typeof raw === 'string') return raw.split(',').map((r) => (field.items ? fromText(r, field.items, name) : r));
  if (type === 'object') {
    try {
      return JSON.parse(String(raw));
    } catch {
      throw new ValidationError(name, `must be JSON, e.g. '{"source":"prod"}'`);
    }
  }
  return raw;
}
