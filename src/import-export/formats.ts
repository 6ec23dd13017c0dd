import { parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { EncodingError, ExemplarError, ValidationError, type LineProblem } from '../errors.ts';
import { DEFAULT_MAX_JSON_DEPTH } from '../config/config.ts';
import { checkExampleSize, exampleLimits, exampleType, metadata, rewardScore, type ExampleLimits, type ExampleType, type NewExample } from '../examples/example.ts';
import { checkInputValue, parseChecked, parseInput, type InputLimits } from '../validation.ts';

export type FileFormat = 'jsonl' | 'csv';

/** Values used for lines that do not carry reward_score or example_type (e.g. OpenAI chat lines). */
export interface LineDefaults {
  rewardScore?: number;
  exampleType?: ExampleType;
}

export interface ParsedFile {
  examples: { line: number; example: NewExample }[];
  problems: LineProblem[];
  lines: number;
}

/** A line of an Exemplar file: the seed's snake_case column names. */
const exampleLine = z.object({
  prompt: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).refine((s) => s.trim().length > 0, 'must not be empty'),
  completion: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }),
  reward_score: rewardScore,
  example_type: exampleType,
  metadata: metadata.default({}),
});

const chatMessage = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool'], { error: 'must be system, user, assistant or tool' }),
  content: z.union([z.string(), z.array(z.object({ type: z.string(), text: z.string().optional() })), z.null()]).optional(),
});

export function detectFormat(fileName: string): FileFormat {
  return /\.csv$/i.test(fileName) ? 'csv' : 'jsonl';
}

/**
 * Parses and validates a whole file. Every bad line becomes a LineProblem naming its line number
 * and field; the caller decides whether problems abort the import.
 */
export function parseExamplesFile(data: Uint8Array | string, format: FileFormat, defaults: LineDefaults, limits: number | (ExampleLimits & Partial<InputLimits>)): ParsedFile {
  const l = fileLimits(limits);
  return format === 'csv' ? parseCsvFile(data, defaults, l) : parseJsonlFile(data, defaults, l);
}

/** What each line is held to: the example's limits, and how deep its JSON may nest. */
export type FileLimits = ExampleLimits & InputLimits;

function fileLimits(limits: number | (ExampleLimits & Partial<InputLimits>)): FileLimits {
  return typeof limits === 'number' ? { ...exampleLimits(limits), maxJsonDepth: DEFAULT_MAX_JSON_DEPTH } : { maxJsonDepth: DEFAULT_MAX_JSON_DEPTH, ...limits };
}

function parseJsonlFile(data: Uint8Array | string, defaults: LineDefaults, limits: FileLimits): ParsedFile {
  const result: ParsedFile = { examples: [], problems: [], lines: 0 };
  const lines = splitLines(data);
  // A final newline ends the last line; it does not start another.
  result.lines = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text instanceof EncodingError) return result.problems.push(problem(line, '', text.message));
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      return result.problems.push(problem(line, '', `not valid JSON (${(err as Error).message})`));
    }
    try {
      result.examples.push({ line, example: toExample(value, defaults, limits, line) });
    } catch (err) {
      if (!(err instanceof ExemplarError)) throw err;
      result.problems.push(problem(line, String(err.details.field ?? ''), err.message));
    }
  });
  return result;
}

function parseCsvFile(data: Uint8Array | string, defaults: LineDefaults, limits: FileLimits): ParsedFile {
  const text = typeof data === 'string' ? data : decodeUtf8(data);
  const result: ParsedFile = { examples: [], problems: [], lines: 0 };
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(text, { columns: true, bom: true, skip_empty_lines: true, info: true, relax_column_count: false });
  } catch (err) {
    const e = err as { lines?: number; message: string };
    throw new ValidationError('', `not valid CSV (${e.message})`, e.lines);
  }
  const header = text.slice(0, text.search(/\r?\n|$/)).replace(/^\uFEFF/, '');
  const columns = parseCsv(header, { columns: false })[0] as string[] | undefined ?? [];
  for (const required of ['prompt', 'completion', ...(defaults.rewardScore === undefined ? ['reward_score'] : []), ...(defaults.exampleType === undefined ? ['example_type'] : [])]) {
    if (!columns.includes(required)) throw new ValidationError(required, `the CSV header has no "${required}" column (it has: ${columns.join(', ') || 'nothing'})`, 1);
  }
  for (const { record, info } of records) {
    const line = info.lines;
    result.lines = line;
    const value: Record<string, unknown> = { prompt: record.prompt, completion: record.completion };
    if (record.reward_score !== undefined && record.reward_score !== '') {
      const n = Number(record.reward_score);
      value.reward_score = record.reward_score.trim() === '' || Number.isNaN(n) ? record.reward_score : n;
    }
    if (record.example_type) value.example_type = record.example_type;
    try {
      if (record.metadata) {
        try {
          value.metadata = JSON.parse(record.metadata);
        } catch {
          throw new ValidationError('metadata', 'must be a JSON object', line);
        }
      }
      result.examples.push({ line, example: toExample(value, defaults, limits, line) });
    } catch (err) {
      if (!(err instanceof ExemplarError)) throw err;
      result.problems.push(problem(line, String(err.details.field ?? ''), err.message));
    }
  }
  return result;
}

/** One parsed line (an Exemplar line or an OpenAI chat line) to a validated example. */
function toExample(value: unknown, defaults: LineDefaults, limits: FileLimits, line: number): NewExample {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('', 'must be a JSON object', line);
  }
  // The whole line, before any part of it is used: NUL characters, lone surrogates, depth.
  checkInputValue(value, { line, maxDepth: limits.maxJsonDepth, depthVariable: 'EXEMPLAR_MAX_JSON_DEPTH' });
  const obj = value as Record<string, unknown>;
  const fields = 'messages' in obj ? fromChat(obj, line) : obj;
  const parsed = parseChecked(
    exampleLine,
    {
      ...fields,
      reward_score: fields.reward_score ?? defaults.rewardScore,
      example_type: fields.example_type ?? defaults.exampleType,
    },
    line,
  );
  const example: NewExample = {
    prompt: parsed.prompt,
    completion: parsed.completion,
    rewardScore: parsed.reward_score,
    exampleType: parsed.example_type,
    metadata: parsed.metadata,
  };
  checkExampleSize(example, limits, line);
  return example;
}

/**
 * OpenAI chat fine-tuning line: the system and user turns become the prompt, the last assistant
 * turn the completion. reward_score, example_type and metadata may sit beside `messages`.
 */
function fromChat(obj: Record<string, unknown>, line: number): Record<string, unknown> {
  const messages = parseInput(z.array(chatMessage).min(2, 'needs at least a user and an assistant message'), obj.messages, line);
  const lastAssistant = messages.map((m) => m.role).lastIndexOf('assistant');
  if (lastAssistant < 0) throw new ValidationError('messages', 'has no assistant message to use as the completion', line);
  const text = (m: z.infer<typeof chatMessage>) =>
    typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text ?? '').join('');
  const prompt = messages
    .slice(0, lastAssistant)
    .filter((m) => m.role === 'system' || m.role === 'developer' || m.role === 'user')
    .map(text)
    .join('\n\n');
  return {
    prompt,
    completion: text(messages[lastAssistant]),
    reward_score: obj.reward_score,
    example_type: obj.example_type,
    metadata: { source_format: 'openai_chat', ...((obj.metadata as object) ?? {}) },
  };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes a whole file, or throws an EncodingError naming the line of the first bad byte. */
export function decodeUtf8(data: Uint8Array): string {
  try {
    return strictUtf8.decode(data);
  } catch {
    const lines = splitLines(data);
    const bad = lines.findIndex((l) => l instanceof EncodingError);
    throw lines[bad] as EncodingError;
  }
}

/** Splits into lines, decoding each strictly; a line that is not UTF-8 becomes an EncodingError. */
function splitLines(data: Uint8Array | string): (string | EncodingError)[] {
  if (typeof data === 'string') return data.replace(/^\uFEFF/, '').split(/\r?\n/);
  try {
    return strictUtf8.decode(data).split(/\r?\n/);
  } catch {
    // Slow path, only for broken files: find which lines are bad.
  }
  const out: (string | EncodingError)[] = [];
  let start = 0;
  for (let i = 0; i <= data.length; i++) {
    if (i === data.length || data[i] === 0x0a) {
      const bytes = data.subarray(start, i);
      try {
        out.push(strictUtf8.decode(bytes).replace(/\r$/, ''));
      } catch {
        const at = firstInvalidByte(bytes);
        out.push(new EncodingError(out.length + 1, start + at));
      }
      start = i + 1;
    }
  }
  return out;
}

function firstInvalidByte(bytes: Uint8Array): number {
  for (let end = 1; end <= bytes.length; end++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end), { stream: true });
    } catch {
      return end - 1;
    }
  }
  return bytes.length;
}

function problem(line: number, field: string, message: string): LineProblem {
  return { line, field, message: message.startsWith(`line ${line}:`) ? message : `line ${line}: ${message}` };
}

/** One exported example as a JSONL line; importing the file again adds nothing. */
export function exportLine(e: {
  id: string; prompt: string; completion: string; rewardScore: number; exampleType: string;
  metadata: Record<string, unknown>; contentHash: string; createdAt: Date;
}): string {
  return JSON.stringify({
    id: e.id,
    prompt: e.prompt,
    completion: e.completion,
    reward_score: e.rewardScore,
    example_type: e.exampleType,
    metadata: e.metadata,
    content_hash: e.contentHash,
    created_at: e.createdAt.toISOString(),
  });
}
