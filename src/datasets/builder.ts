import { createHash } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ExampleType } from '../examples/example.ts';
import type { ExampleFilter } from '../examples/examples.ts';
import { loadHeldOut } from '../evaluation/held-out.ts';
import type { Exemplar } from '../exemplar.ts';
import { parseInput } from '../validation.ts';
import { DATASET_FORMATS, FORMAT_KIND, renderPair, renderSingle, type DatasetFormat, type RenderedRecord } from './formats.ts';
import { findNearDuplicates, NEAR_DUPLICATE_METHOD } from './near-dup.ts';
import { redact, type RedactionCounts } from './redact.ts';
import { countTokens, TOKENIZER } from './tokens.ts';
import { OPENAI_MIN_EXAMPLES, validateDataset } from './validate.ts';

import { datasetSpec, MAX_QUERY_LIMIT } from './spec.ts';

export { DATASET_FORMATS, type DatasetFormat } from './formats.ts';
export { datasetSpec, MAX_QUERY_LIMIT, type DatasetSpec } from './spec.ts';

export interface DatasetRecordRef {
  id: string;
  contentHash: string;
  split: 'train' | 'validation';
}

export interface DatasetReport {
  format: DatasetFormat;
  /** Examples the filters (or the query) selected, before anything was removed. */
  selected: number;
  removed: {
    /**
     * Examples in any version of the agent's eval sets, or near duplicates of one (cosine at the
     * default near-duplicate threshold): never trained on, whatever the options.
     */
    heldOut: number;
    exactDuplicates: number;
    nearDuplicates: number;
    /** Paired formats: examples with no example of the other type for the same prompt. */
    unpaired?: number;
    /** Examples a format cannot hold, e.g. an empty completion. */
    invalid?: number;
    /** Why each example was removed (the first 100). */
    reasons: { id: string; reason: string }[];
  };
  redactions: RedactionCounts;
  /** `examples` counts records: for DPO and preference formats, one record is one pair. */
  train: { examples: number; tokens: number };
  validation: { examples: number; tokens: number };
  tokenizer: string;
  nearDuplicateMethod: string | null;
  /** What the builder chose and why (example types used, system prompt, pairing rule). */
  notes: string[];
  /** Milliseconds per phase. */
  timings: Record<string, number>;
}

export interface BuiltDataset {
  format: DatasetFormat;
  /** JSONL, one record per line, ending with a newline (empty when there are no records). */
  train: string;
  validation: string;
  /** Every example in the dataset, in file order (train first); a pair contributes both its examples. */
  records: DatasetRecordRef[];
  sha256: { train: string; validation: string | null };
  report: DatasetReport;
}

interface Row {
  id: string;
  contentHash: string;
  prompt: string;
  completion: string;
  reward: number;
  type: ExampleType;
}

interface Unit {
  rows: Row[];
  /** Examples of one prompt stay on one side of the split. */
  splitKey: string;
  record: RenderedRecord;
}

const MAX_REASONS = 100;

/**
 * Builds a fine-tuning dataset from an agent's examples: select (filters or a hybrid query),
 * redact, drop invalid, exact and near duplicates, pair (DPO, preference), split train/validation
 * by a seeded hash of the prompt, count tokens, render and validate the JSONL.
 */
export async function buildDataset(
  app: Exemplar,
  spec: z.input<typeof datasetSpec>,
  onProgress?: (done: number, total: number, message?: string) => void,
): Promise<BuiltDataset> {
  const s = parseInput(datasetSpec, spec);
  const kind = FORMAT_KIND[s.format];
  const timings: Record<string, number> = {};
  let t = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round(now - t);
    t = now;
  };
  const notes: string[] = [];
  if (kind === 'pair' && s.exampleType) {
    throw new ValidationError('exampleType', `${s.format} pairs a positive and a negative example of one prompt; leave exampleType out`);
  }
  if (s.query && s.limit !== undefined && s.limit > MAX_QUERY_LIMIT) {
    throw new ValidationError('limit', `with a query, at most ${MAX_QUERY_LIMIT} examples can be selected (hybrid search's top-k limit); drop the query to take every matching example`);
  }
  if (s.minScore !== undefined && s.maxScore !== undefined && s.minScore > s.maxScore) {
    throw new ValidationError('minScore', `is above maxScore (${s.minScore} > ${s.maxScore})`);
  }
  const type: ExampleType | undefined = kind === 'sft' ? (s.exampleType ?? 'positive') : s.exampleType;
  if (kind === 'sft') notes.push(`${s.format} learns to imitate: ${type} examples only${s.exampleType ? ' (as asked)' : ' (set exampleType to change)'}.`);
  if (kind === 'kto') notes.push(`KTO label = (example_type is positive); ${type ? `${type} examples only` : 'positive and negative examples'}.`);
  if (kind === 'pair') notes.push('Pairs: per prompt, the best-rewarded positive with the lowest-rewarded negative, then the next of each; the rest are unpaired.');

  const agent = await app.agents.resolve(s.agent);
  const chatFormat = ['openai-sft', 'openai-dpo', 'trl-conversational', 'axolotl-chat-template'].includes(s.format);
  let system = s.systemPrompt;
  if (system === undefined && chatFormat) {
    system = await app.prompts.get(agent.id).then((p) => p.content, (err) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (system) notes.push("System message: the agent's production prompt.");
  }
  if (system === '') system = undefined;
  if (!chatFormat && s.systemPrompt) notes.push(`${s.format} has no system message; systemPrompt was not used.`);
  if (s.format === 'axolotl-chat-template') notes.push('Axolotl chat_template with its default keys: field_messages "messages", role and content.');

  // 1. Selection.
  onProgress?.(0, 1, 'selecting examples');
  let rows = await select(app, agent.id, s, type, onProgress);
  phase('select');
  const selected = rows.length;

  const reasons: { id: string; reason: string }[] = [];
  const because = (id: string, reason: string) => {
    if (reasons.length < MAX_REASONS) reasons.push({ id, reason });
  };

  // 1b. The eval-set guard: a model fine-tuned on the examples its prompts are scored on would
  // score well for the wrong reason. Checked on every selection (with or without a query), before
  // redaction changes the text, and with the default threshold, not the spec's: dedupe: false or
  // nearDuplicateThreshold: 0 cannot switch it off.
  let heldOut = 0;
  const held = await loadHeldOut(app.db, agent.id);
  if (held) {
    onProgress?.(0, rows.length, 'holding out eval-set examples');
    const why = held.check(rows);
    rows = rows.filter((r, i) => {
      const w = why[i];
      if (!w) return true;
      heldOut++;
      because(
        r.id,
        w.kind === 'member'
          ? 'held out: in an eval set'
          : w.kind === 'samePrompt'
            ? `held out: answers the prompt of eval-set example ${w.of}`
            : `held out: near duplicate of eval-set example ${w.of} (cosine ${w.similarity.toFixed(3)})`,
      );
      return false;
    });
    if (heldOut > 0) notes.push(`${heldOut} examples held out: in the agent's eval sets (${held.size} examples, every version), or near duplicates of them.`);
    phase('heldOut');
  }

  // 2. Redaction.
  const redactions: RedactionCounts = { emails: 0, phones: 0, apiKeys: 0 };
  if (s.redact) {
    for (const r of rows) {
      r.prompt = redact(r.prompt, redactions);
      r.completion = redact(r.completion, redactions);
    }
    if (system) system = redact(system, redactions);
    phase('redact');
  }

  // 3. Invalid rows: every format needs a prompt and a completion with some text.
  let invalid = 0;
  let kept = rows.filter((r) => {
    const bad = r.prompt.trim() === '' ? 'empty prompt' : r.completion.trim() === '' ? 'empty completion' : undefined;
    if (bad) {
      invalid++;
      because(r.id, bad);
    }
    return !bad;
  });

  // Best first: duplicates keep the best-rewarded positive and the lowest-rewarded (most instructive) negative.
  kept.sort((a, b) => (a.type === b.type ? (a.type === 'positive' ? b.reward - a.reward : a.reward - b.reward) : a.type === 'positive' ? -1 : 1) || cmp(a.id, b.id));

  // 4. Exact duplicates: same type, same prompt and completion up to whitespace (after redaction).
  let exactDuplicates = 0;
  let nearDuplicates = 0;
  if (s.dedupe) {
    const firstOf = new Map<string, string>();
    kept = kept.filter((r) => {
      const key = createHash('sha256').update(`${r.type}\0${normalize(r.prompt)}\0${normalize(r.completion)}`).digest('base64');
      const first = firstOf.get(key);
      if (first) {
        exactDuplicates++;
        because(r.id, `exact duplicate of ${first}`);
        return false;
      }
      firstOf.set(key, r.id);
      return true;
    });
    phase('exactDuplicates');

    // 5. Near duplicates, within each type.
    if (s.nearDuplicateThreshold > 0) {
      onProgress?.(0, kept.length, 'removing near duplicates');
      const near = findNearDuplicates(
        kept.map((r) => ({ text: `${r.prompt}\n${r.completion}`, group: r.type === 'positive' ? 0 : 1 })),
        s.nearDuplicateThreshold,
        (done, total) => onProgress?.(done, total, 'removing near duplicates'),
      );
      const before = kept;
      kept = before.filter((r, i) => {
        const j = near.duplicateOf[i];
        if (j < 0) return true;
        nearDuplicates++;
        because(r.id, `near duplicate of ${before[j].id} (cosine ${near.similarity[i].toFixed(3)})`);
        return false;
      });
      phase('nearDuplicates');
    }
  }

  // 6. Records.
  const units: Unit[] = [];
  let unpaired: number | undefined;
  if (kind === 'pair') {
    unpaired = 0;
    const byPrompt = new Map<string, { positive: Row[]; negative: Row[] }>();
    for (const r of kept) {
      const key = normalize(r.prompt);
      let g = byPrompt.get(key);
      if (!g) byPrompt.set(key, (g = { positive: [], negative: [] }));
      g[r.type].push(r); // already best first within each type
    }
    for (const [key, g] of byPrompt) {
      const n = Math.min(g.positive.length, g.negative.length);
      for (let i = 0; i < n; i++) {
        const [pos, neg] = [g.positive[i], g.negative[i]];
        units.push({ rows: [pos, neg], splitKey: key, record: renderPair(s.format, system, pos.prompt, pos.completion, neg.completion) });
      }
      for (const r of [...g.positive.slice(n), ...g.negative.slice(n)]) {
        unpaired++;
        because(r.id, `unpaired: no ${r.type === 'positive' ? 'negative' : 'positive'} example of the same prompt left to pair with`);
      }
    }
    phase('pair');
  } else {
    for (const r of kept) {
      units.push({ rows: [r], splitKey: normalize(r.prompt), record: renderSingle(s.format, system, r.prompt, r.completion, r.type === 'positive') });
    }
  }

  // 7. Seeded split, by prompt: the same seed gives the same split whatever order the rows came in.
  const rank = new Map<string, string>();
  for (const u of units) {
    if (!rank.has(u.splitKey)) rank.set(u.splitKey, createHash('sha256').update(`${s.seed}\0${u.splitKey}`).digest('hex'));
  }
  units.sort((a, b) => cmp(rank.get(a.splitKey)!, rank.get(b.splitKey)!) || cmp(a.rows[0].id, b.rows[0].id));
  const wantValidation = Math.round(units.length * s.validationFraction);
  let cut = 0;
  while (cut < units.length && cut < wantValidation) {
    // Take whole prompt groups.
    const key = units[cut].splitKey;
    while (cut < units.length && units[cut].splitKey === key) cut++;
  }
  const validationUnits = units.slice(0, cut);
  const trainUnits = units.slice(cut);
  phase('split');

  const minimum = s.format.startsWith('openai') ? OPENAI_MIN_EXAMPLES : 1;
  if (trainUnits.length < minimum) {
    const removedCount = heldOut + exactDuplicates + nearDuplicates + invalid + (unpaired ?? 0);
    throw new ValidationError(
      'format',
      `${s.format} needs at least ${minimum} training ${kind === 'pair' ? 'pairs' : 'examples'}, but this selection gives ${trainUnits.length} ` +
        `(${selected} selected, ${removedCount} removed, ${validationUnits.length} in validation). ` +
        'Add examples, widen the filters or lower validationFraction.',
    );
  }

  // 8. Tokens, JSONL, validation.
  onProgress?.(0, units.length, 'counting tokens');
  const cache = new Map<string, number>();
  if (system) countTokens(system, cache);
  const records: DatasetRecordRef[] = [];
  const write = (list: Unit[], split: 'train' | 'validation') => {
    let tokens = 0;
    const lines: string[] = [];
    for (const u of list) {
      for (const text of u.record.texts) tokens += text === system ? countTokens(text, cache) : countTokens(text);
      lines.push(JSON.stringify(u.record.json));
      for (const r of u.rows) records.push({ id: r.id, contentHash: r.contentHash, split });
    }
    return { jsonl: lines.length ? `${lines.join('\n')}\n` : '', tokens, examples: list.length };
  };
  const train = write(trainUnits, 'train');
  const validation = write(validationUnits, 'validation');
  phase('tokensAndRender');

  for (const [name, file, min] of [['train', train.jsonl, undefined], ['validation', validation.jsonl, 0]] as const) {
    if (file === '') continue;
    const check = validateDataset(s.format, file, { minExamples: min });
    if (!check.ok) {
      throw new Error(`the built ${name} file fails ${s.format} validation: ${check.errors.slice(0, 3).map((e) => `line ${e.line}: ${e.message}`).join('; ')}`);
    }
  }
  phase('validate');
  onProgress?.(units.length, units.length, 'done');

  return {
    format: s.format,
    train: train.jsonl,
    validation: validation.jsonl,
    records,
    sha256: { train: sha256(train.jsonl), validation: validation.jsonl ? sha256(validation.jsonl) : null },
    report: {
      format: s.format,
      selected,
      removed: {
        heldOut,
        exactDuplicates,
        nearDuplicates,
        ...(unpaired !== undefined ? { unpaired } : {}),
        invalid,
        reasons,
      },
      redactions,
      train: { examples: train.examples, tokens: train.tokens },
      validation: { examples: validation.examples, tokens: validation.tokens },
      tokenizer: TOKENIZER,
      nearDuplicateMethod: s.dedupe && s.nearDuplicateThreshold > 0 ? `${NEAR_DUPLICATE_METHOD}; threshold ${s.nearDuplicateThreshold}` : null,
      notes,
      timings,
    },
  };
}

async function select(
  app: Exemplar,
  agentId: string,
  s: z.output<typeof datasetSpec>,
  type: ExampleType | undefined,
  onProgress?: (done: number, total: number, message?: string) => void,
): Promise<Row[]> {
  if (s.query) {
    const { results } = await app.hybridRetrieveBestExamples({
      agentId,
      query: s.query,
      topK: s.limit ?? MAX_QUERY_LIMIT,
      minScore: s.minScore ?? 0,
      maxScore: s.maxScore,
      exampleType: type,
      contains: s.contains,
      createdAfter: s.createdAfter,
      createdBefore: s.createdBefore,
    });
    if (results.length === 0) return [];
    const { rows } = await app.db.query<{ id: string; contentHash: string }>(
      'SELECT id::text, content_hash AS "contentHash" FROM training_examples WHERE id = ANY($1::uuid[])',
      [results.map((r) => r.id)],
    );
    const hashes = new Map(rows.map((r) => [r.id, r.contentHash]));
    return results
      .filter((r) => hashes.has(r.id))
      .map((r) => ({ id: r.id, contentHash: hashes.get(r.id)!, prompt: r.input, completion: r.output, reward: r.score, type: r.exampleType }));
  }
  const filter: ExampleFilter = {
    exampleType: type,
    minScore: s.minScore,
    maxScore: s.maxScore,
    contains: s.contains,
    createdAfter: s.createdAfter,
    createdBefore: s.createdBefore,
  };
  const total = s.limit ?? (await app.examples.count(agentId, filter));
  const out: Row[] = [];
  for await (const e of app.examples.iterate(agentId, filter)) {
    out.push({ id: e.id, contentHash: e.contentHash, prompt: e.prompt, completion: e.completion, reward: e.rewardScore, type: e.exampleType });
    if (out.length % 10_000 === 0) onProgress?.(out.length, total, 'selecting examples');
    if (s.limit !== undefined && out.length >= s.limit) break;
  }
  return out;
}

function normalize(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
