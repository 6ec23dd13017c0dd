import { DATASET_FORMATS, type DatasetFormat } from './formats.ts';

export interface DatasetValidation {
  ok: boolean;
  /** Lines that hold a record. */
  examples: number;
  /** 1-based line numbers; at most MAX_ERRORS, then one line that says how many more there were. */
  errors: { line: number; message: string }[];
}

/** Fewest examples OpenAI accepts in a fine-tuning training file. */
export const OPENAI_MIN_EXAMPLES = 10;
const MAX_ERRORS = 200;

const CHAT_ROLES = new Set(['system', 'user', 'assistant', 'tool']);
const OPENAI_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

type Check = (record: Record<string, unknown>, err: (message: string) => void) => void;

/**
 * Checks a JSONL file against the rules its consumer applies: OpenAI's fine-tuning file checks,
 * TRL's dataset types and Axolotl's alpaca and chat_template loaders. Every problem names its line.
 * `minExamples` defaults to OpenAI's minimum of 10 for the openai-* formats (pass 0 for a
 * validation file, which has no minimum) and to 1 otherwise.
 */
export function validateDataset(format: DatasetFormat, jsonl: string, opts: { minExamples?: number } = {}): DatasetValidation {
  if (!DATASET_FORMATS.includes(format)) {
    return { ok: false, examples: 0, errors: [{ line: 0, message: `unknown format "${format}"; use one of ${DATASET_FORMATS.join(', ')}` }] };
  }
  const errors: { line: number; message: string }[] = [];
  let dropped = 0;
  const push = (line: number, message: string) => {
    if (errors.length < MAX_ERRORS) errors.push({ line, message });
    else dropped++;
  };
  const check = CHECKS[format];
  const lines = jsonl.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the final newline
  let examples = 0;
  let firstKeys: string | undefined;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return push(line, 'empty line: every line must hold one JSON object');
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (e) {
      return push(line, `not valid JSON (${(e as Error).message})`);
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return push(line, 'must be a JSON object');
    examples++;
    const r = record as Record<string, unknown>;
    check(r, (message) => push(line, message));
    // Hugging Face datasets load JSONL into one table: every line needs the same columns.
    if (!format.startsWith('openai')) {
      const keys = Object.keys(r).sort().join(',');
      firstKeys ??= keys;
      if (keys !== firstKeys) push(line, `has fields {${keys}} but line 1 has {${firstKeys}}; every line needs the same fields`);
    }
  });
  const min = opts.minExamples ?? (format.startsWith('openai') ? OPENAI_MIN_EXAMPLES : 1);
  if (examples < min) push(0, `has ${examples} example${examples === 1 ? '' : 's'}; ${format} needs at least ${min}`);
  if (dropped > 0) errors.push({ line: 0, message: `and ${dropped} more errors` });
  return { ok: errors.length === 0, examples, errors };
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v.trim().length > 0;
}

function checkMessages(messages: unknown, field: string, roles: Set<string>, err: (m: string) => void, last?: 'assistant' | 'user'): void {
  if (!Array.isArray(messages)) return err(`${field}: must be an array of messages`);
  if (messages.length === 0) return err(`${field}: must not be empty`);
  messages.forEach((m, i) => {
    const at = `${field}[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return err(`${at}: must be an object with role and content`);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !roles.has(role)) return err(`${at}.role: must be one of ${[...roles].join(', ')} (got ${JSON.stringify(role)})`);
    const hasToolCalls = role === 'assistant' && Array.isArray((m as Record<string, unknown>).tool_calls);
    if (!hasToolCalls && !nonEmptyString(content)) err(`${at}.content: must be a non-empty string`);
  });
  const lastRole = (messages[messages.length - 1] as { role?: unknown } | null)?.role;
  if (last && lastRole !== last) err(`${field}: the last message must be from the ${last} (got ${JSON.stringify(lastRole)})`);
}

function onlyFields(r: Record<string, unknown>, allowed: string[], err: (m: string) => void): void {
  for (const k of Object.keys(r)) if (!allowed.includes(k)) err(`${k}: unexpected field (allowed: ${allowed.join(', ')})`);
}

function stringFields(r: Record<string, unknown>, fields: string[], err: (m: string) => void, mayBeEmpty: string[] = []): void {
  for (const f of fields) {
    if (!(f in r)) err(`${f}: is required`);
    else if (typeof r[f] !== 'string') err(`${f}: must be a string`);
    else if (!mayBeEmpty.includes(f) && !nonEmptyString(r[f])) err(`${f}: must not be empty`);
  }
}

function assistantOutput(v: unknown, field: string, err: (m: string) => void): string | undefined {
  if (!Array.isArray(v) || v.length !== 1) {
    err(`${field}: must be an array of exactly one assistant message`);
    return undefined;
  }
  checkMessages(v, field, new Set(['assistant']), err);
  const content = (v[0] as { content?: unknown } | null)?.content;
  return typeof content === 'string' ? content : undefined;
}

const CHECKS: Record<DatasetFormat, Check> = {
  // OpenAI supervised fine-tuning: chat messages, ending with the assistant turn to learn.
  'openai-sft': (r, err) => {
    onlyFields(r, ['messages', 'tools', 'parallel_tool_calls', 'functions'], err);
    checkMessages(r.messages, 'messages', OPENAI_ROLES, err, 'assistant');
  },
  // OpenAI DPO: input messages (ending with the user), one preferred and one non-preferred answer.
  'openai-dpo': (r, err) => {
    onlyFields(r, ['input', 'preferred_output', 'non_preferred_output'], err);
    const input = r.input as Record<string, unknown> | undefined;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) err('input: must be an object with messages');
    else checkMessages(input.messages, 'input.messages', OPENAI_ROLES, err, 'user');
    const good = assistantOutput(r.preferred_output, 'preferred_output', err);
    const bad = assistantOutput(r.non_preferred_output, 'non_preferred_output', err);
    if (good !== undefined && good === bad) err('preferred_output and non_preferred_output must differ');
  },
  // TRL standard prompt-completion.
  'trl-prompt-completion': (r, err) => {
    onlyFields(r, ['prompt', 'completion'], err);
    stringFields(r, ['prompt', 'completion'], err);
  },
  // TRL conversational language modeling.
  'trl-conversational': (r, err) => {
    onlyFields(r, ['messages'], err);
    checkMessages(r.messages, 'messages', CHAT_ROLES, err, 'assistant');
  },
  // TRL preference (explicit prompt): chosen and rejected answers to one prompt.
  'trl-preference': (r, err) => {
    onlyFields(r, ['prompt', 'chosen', 'rejected'], err);
    stringFields(r, ['prompt', 'chosen', 'rejected'], err);
    if (typeof r.chosen === 'string' && r.chosen === r.rejected) err('chosen and rejected must differ');
  },
  // TRL unpaired preference (KTO): a completion and whether it is desirable.
  'trl-kto': (r, err) => {
    onlyFields(r, ['prompt', 'completion', 'label'], err);
    stringFields(r, ['prompt', 'completion'], err);
    if (typeof r.label !== 'boolean') err('label: must be true or false');
  },
  // Axolotl alpaca: instruction, optional input, output.
  'axolotl-alpaca': (r, err) => {
    onlyFields(r, ['instruction', 'input', 'output'], err);
    stringFields(r, ['instruction', 'output'], err);
    if ('input' in r && typeof r.input !== 'string') err('input: must be a string');
  },
  // Axolotl chat_template with its defaults: field_messages "messages", role and content keys.
  'axolotl-chat-template': (r, err) => {
    onlyFields(r, ['messages'], err);
    checkMessages(r.messages, 'messages', CHAT_ROLES, err, 'assistant');
  },
};
