import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { buildDataset, DATASET_FORMATS, type DatasetFormat } from '../../src/datasets/builder.ts';
import { findNearDuplicates } from '../../src/datasets/near-dup.ts';
import { redact } from '../../src/datasets/redact.ts';
import { countTokens } from '../../src/datasets/tokens.ts';
import { validateDataset } from '../../src/datasets/validate.ts';
import { ValidationError } from '../../src/errors.ts';
import type { NewExample } from '../../src/examples/example.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, cliEnv, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let n = 0;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(() => t.close());

const WORDS = (
  'apple river stone cloud table python docker rust git branch merge socket thread mutex cache index query vector ' +
  'matrix kernel buffer stream parser lexer token syntax compile deploy server client proxy router packet header cookie ' +
  'session schema column row join filter sort hash tree graph node edge queue stack heap array list map set string ' +
  'number float integer boolean promise future async await loop closure module package import export test mock spy'
).split(' ');

/** mulberry32: a small PRNG whose outputs do not repeat in short patterns. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Texts of random words: two of them share little, so they are never near duplicates by accident. */
function words(rand: () => number, k: number): string {
  return Array.from({ length: k }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
}

function ex(prompt: string, completion: string, rewardScore: number, exampleType: 'positive' | 'negative' = rewardScore >= 0.5 ? 'positive' : 'negative'): NewExample {
  return { prompt, completion, rewardScore, exampleType, metadata: {} };
}

/** `pairs` prompts with one positive and one negative answer each, plus `extra` positives of their own prompts. */
function corpus(seed: number, pairs: number, extra: number): NewExample[] {
  const rand = rng(seed);
  const out: NewExample[] = [];
  for (let i = 0; i < pairs; i++) {
    const prompt = `${i}: ${words(rand, 10)}?`;
    out.push(ex(prompt, `good ${words(rand, 18)}`, 0.8 + rand() * 0.2), ex(prompt, `bad ${words(rand, 18)}`, rand() * 0.3));
  }
  for (let i = 0; i < extra; i++) out.push(ex(`extra ${i}: ${words(rand, 10)}?`, words(rand, 18), 0.6 + rand() * 0.4));
  return out;
}

async function agentWith(examples: NewExample[]): Promise<string> {
  const name = `ds-agent-${++n}`;
  await t.app.agents.create({ name }, ACTOR);
  await t.app.examples.addMany(name, examples, ACTOR);
  return name;
}

const parse = (jsonl: string) => jsonl.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('dataset formats', () => {
  let agent: string;
  beforeAll(async () => {
    agent = await agentWith(corpus(1, 20, 10));
    await t.app.prompts.create(agent, { content: 'You are a careful assistant.', source: 'manual', label: 'production' }, ACTOR);
  });

  it.each(DATASET_FORMATS.map((f) => [f]))('%s round-trips through its validator', async (format: DatasetFormat) => {
    const built = await buildDataset(t.app, { agent, format, validationFraction: 0.2 });
    const train = validateDataset(format, built.train);
    expect(train, JSON.stringify(train.errors.slice(0, 3))).toMatchObject({ ok: true, errors: [] });
    expect(train.examples).toBe(built.report.train.examples);
    expect(validateDataset(format, built.validation, { minExamples: 0 }).ok).toBe(true);
    expect(built.report.validation.examples).toBeGreaterThan(0);
    expect(built.report.tokenizer).toMatch(/o200k_base/);
    const first = parse(built.train)[0];
    switch (format) {
      case 'openai-sft':
      case 'trl-conversational':
      case 'axolotl-chat-template':
        expect(first.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant']);
        expect(first.messages[0].content).toBe('You are a careful assistant.');
        break;
      case 'openai-dpo':
        expect(Object.keys(first).sort()).toEqual(['input', 'non_preferred_output', 'preferred_output']);
        break;
      case 'trl-prompt-completion':
        expect(Object.keys(first).sort()).toEqual(['completion', 'prompt']);
        break;
      case 'trl-preference':
        expect(Object.keys(first).sort()).toEqual(['chosen', 'prompt', 'rejected']);
        break;
      case 'trl-kto':
        expect(typeof first.label).toBe('boolean');
        break;
      case 'axolotl-alpaca':
        expect(Object.keys(first).sort()).toEqual(['input', 'instruction', 'output']);
        break;
    }
    // sha256 is of the exact file contents.
    const { createHash } = await import('node:crypto');
    expect(built.sha256.train).toBe(createHash('sha256').update(built.train).digest('hex'));
  });

  it('SFT formats use positive examples only; KTO uses both with label = positive', async () => {
    const sft = await buildDataset(t.app, { agent, format: 'openai-sft', validationFraction: 0 });
    expect(sft.report.train.examples).toBe(30); // 20 paired positives + 10 extra
    expect(sft.report.notes.join(' ')).toMatch(/positive examples only/);
    const kto = await buildDataset(t.app, { agent, format: 'trl-kto', validationFraction: 0 });
    const lines = parse(kto.train);
    expect(lines).toHaveLength(50);
    expect(lines.filter((l) => l.label === false)).toHaveLength(20);
    expect(lines.filter((l) => l.label === false).every((l) => l.completion.startsWith('bad'))).toBe(true);
  });

  it('DPO and preference pair a positive and a negative of the same prompt, and report the unpaired', async () => {
    for (const format of ['openai-dpo', 'trl-preference'] as const) {
      const built = await buildDataset(t.app, { agent, format, validationFraction: 0 });
      expect(built.report.train.examples).toBe(20);
      expect(built.report.removed.unpaired).toBe(10); // the extra positives have no negative
      expect(built.report.removed.reasons.filter((r) => r.reason.startsWith('unpaired'))).toHaveLength(10);
      expect(built.records).toHaveLength(40);
      for (const line of parse(built.train)) {
        const prompt = format === 'openai-dpo' ? line.input.messages.at(-1).content : line.prompt;
        const chosen = format === 'openai-dpo' ? line.preferred_output[0].content : line.chosen;
        const rejected = format === 'openai-dpo' ? line.non_preferred_output[0].content : line.rejected;
        expect(chosen).toMatch(/^good /);
        expect(rejected).toMatch(/^bad /);
        expect(prompt).toMatch(/^\d+: /);
      }
    }
    await expect(buildDataset(t.app, { agent, format: 'openai-dpo', exampleType: 'positive' })).rejects.toThrow(/exampleType/);
  });

  it('selects by hybrid query with the same filters as retrieval', async () => {
    const built = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', query: 'docker socket', limit: 5, validationFraction: 0 });
    expect(built.report.selected).toBe(5);
    expect(built.report.train.examples).toBe(5);
    const filtered = await buildDataset(t.app, { agent, format: 'trl-kto', minScore: 0.5, validationFraction: 0 });
    expect(parse(filtered.train).every((l) => l.label === true)).toBe(true);
    await expect(buildDataset(t.app, { agent, format: 'openai-sft', query: 'x', limit: 500 })).rejects.toThrow(/at most 200/);
  });
});

describe('dedupe, split and tokens', () => {
  it('removes exact duplicates (up to whitespace) and near duplicates, with counts and reasons', async () => {
    const base = corpus(7, 0, 20);
    const rand = rng(99);
    const long = words(rand, 60);
    const dupes = [
      ex(`  ${base[0].prompt}  `, `${base[0].completion} `, 0.7), // whitespace only: an exact duplicate
      ex(`${base[1].prompt}`, `${base[1].completion}\n\n`, 0.7),
      ex('explain the long thing', long, 0.9),
      ex('explain the long thing', `${long} indeed`, 0.8), // one word more: a near duplicate
    ];
    const agent = await agentWith([...base, ...dupes]);
    const built = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', validationFraction: 0 });
    expect(built.report.selected).toBe(24);
    expect(built.report.removed.exactDuplicates).toBe(2);
    expect(built.report.removed.nearDuplicates).toBe(1);
    expect(built.report.train.examples).toBe(21);
    expect(built.report.removed.reasons.map((r) => r.reason).join('\n')).toMatch(/near duplicate of .* \(cosine 0\.9\d\d\)/);
    // The better-rewarded copy is the one kept.
    expect(parse(built.train).some((l) => l.completion === long)).toBe(true);

    const off = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', validationFraction: 0, nearDuplicateThreshold: 0 });
    expect(off.report.removed).toMatchObject({ exactDuplicates: 2, nearDuplicates: 0 });
    const none = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', validationFraction: 0, dedupe: false });
    expect(none.report.train.examples).toBe(24);
  });

  it('near-duplicate search finds pairs above the threshold and nothing below it', () => {
    const rand = rng(5);
    // Words from a large vocabulary: unrelated texts share almost nothing.
    const word = () => Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join('');
    const text = () => Array.from({ length: 30 }, word).join(' ');
    const items = Array.from({ length: 2000 }, () => ({ text: text(), group: 0 }));
    // 100 near copies (one word changed) of the first 100.
    for (let i = 0; i < 100; i++) items.push({ text: items[i].text.replace(/^\S+/, 'zebra'), group: 0 });
    // A copy in another group is not a duplicate.
    items.push({ text: items[0].text, group: 1 });
    const r = findNearDuplicates(items, 0.9);
    const found = [...r.duplicateOf].map((d, i) => [i, d]).filter(([, d]) => d >= 0);
    expect(found.length).toBeGreaterThanOrEqual(97); // LSH recall; exact verification means no false positives
    for (const [i, d] of found) expect(i >= 2000 ? d : -1).toBe(i - 2000);
    expect(r.duplicateOf[2100]).toBe(-1);
    expect(r.comparisons).toBeLessThan(2101 * 50); // far from all pairs
  });

  it('splits reproducibly by seed, stable under row order, different for another seed', async () => {
    const examples = corpus(3, 0, 60);
    const a = await agentWith(examples);
    const b = await agentWith([...examples].reverse());
    const spec = { format: 'openai-sft' as const, validationFraction: 0.25, seed: 7 };
    const a1 = await buildDataset(t.app, { agent: a, ...spec });
    const a2 = await buildDataset(t.app, { agent: a, ...spec });
    const b1 = await buildDataset(t.app, { agent: b, ...spec });
    expect(a1.report.validation.examples).toBe(15);
    expect(a2.records).toEqual(a1.records);
    expect(a2.sha256).toEqual(a1.sha256);
    expect(b1.sha256).toEqual(a1.sha256); // other ids, other insert order: same files
    const other = await buildDataset(t.app, { agent: a, ...spec, seed: 8 });
    const val = (d: typeof a1) => new Set(d.records.filter((r) => r.split === 'validation').map((r) => r.id));
    expect(val(other)).not.toEqual(val(a1));
    expect(other.sha256.train).not.toBe(a1.sha256.train);
    // Every example is in exactly one split, with its content hash.
    expect(new Set(a1.records.map((r) => r.id)).size).toBe(60);
    expect(a1.records.every((r) => /^[0-9a-f]{64}$/.test(r.contentHash))).toBe(true);
  });

  it('counts tokens with a real tokenizer, deterministically', async () => {
    expect(countTokens('hello world')).toBe(2);
    expect(countTokens('<|endoftext|>')).toBeGreaterThan(1); // special-token text counts as plain text
    const agent = await agentWith(corpus(4, 0, 20));
    const x = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', validationFraction: 0.1 });
    const y = await buildDataset(t.app, { agent, format: 'trl-prompt-completion', validationFraction: 0.1 });
    expect(x.report.train.tokens).toBeGreaterThan(x.report.train.examples * 10);
    expect(x.report.validation.tokens).toBeGreaterThan(0);
    expect(y.report.train).toEqual(x.report.train);
    const expected = parse(x.train).reduce((s, l) => s + countTokens(l.prompt) + countTokens(l.completion), 0);
    expect(x.report.train.tokens).toBe(expected);
  });
});

describe('redaction', () => {
  it('replaces emails, phone numbers and API keys, and counts them', async () => {
    const counts = { emails: 0, phones: 0, apiKeys: 0 };
    const text =
      'Mail jane.doe@example.com or call +1 415-555-0132 / (020) 7946 0958. Keys: sk-proj-abcdefghijklmnop1234567890, ' +
      'sk-ant-api03-abcdefghijklmnopqrstuv, AKIAIOSFODNN7EXAMPLE, ghp_abcdefghijklmnopqrstuvwxyz0123456789, ' +
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig. Version 1.2.3 on 2024-01-15 at 10.0.0.1, port 8080.';
    const out = redact(text, counts);
    expect(counts).toEqual({ emails: 1, phones: 2, apiKeys: 5 });
    expect(out).not.toMatch(/@example\.com|sk-|AKIA|ghp_|eyJ|415|7946/);
    expect(out).toMatch(/Version 1\.2\.3 on 2024-01-15 at 10\.0\.0\.1, port 8080/);
  });

  it('redacts a built dataset and reports the counts', async () => {
    const examples = corpus(5, 0, 12);
    examples[0] = ex('Email me at bob@corp.io about the key', 'Use sk-abcdefghijklmnopqrstuvwxyz and call 415 555 0132.', 0.9);
    const agent = await agentWith(examples);
    const plain = await buildDataset(t.app, { agent, format: 'openai-sft', validationFraction: 0 });
    expect(plain.train).toMatch(/bob@corp\.io/);
    expect(plain.report.redactions).toEqual({ emails: 0, phones: 0, apiKeys: 0 });
    const built = await buildDataset(t.app, { agent, format: 'openai-sft', validationFraction: 0, redact: true });
    expect(built.report.redactions).toEqual({ emails: 1, phones: 1, apiKeys: 1 });
    expect(built.train).not.toMatch(/bob@corp\.io|sk-abc|415 555/);
    expect(built.train).toMatch(/\[REDACTED_EMAIL\]/);
  });
});

describe('validation and refusals', () => {
  it('gives line-numbered errors for a bad file', () => {
    const good = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    const lines = [
      good,
      '{not json',
      JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
      JSON.stringify({ messages: [{ role: 'wizard', content: 'x' }, { role: 'assistant', content: '' }] }),
      '',
      JSON.stringify([1, 2]),
      good,
    ];
    const r = validateDataset('openai-sft', `${lines.join('\n')}\n`);
    expect(r.ok).toBe(false);
    const at = (line: number) => r.errors.filter((e) => e.line === line).map((e) => e.message).join(' | ');
    expect(at(1)).toBe('');
    expect(at(2)).toMatch(/not valid JSON/);
    expect(at(3)).toMatch(/last message must be from the assistant/);
    expect(at(4)).toMatch(/role: must be one of/);
    expect(at(4)).toMatch(/content: must be a non-empty string/);
    expect(at(5)).toMatch(/empty line/);
    expect(at(6)).toMatch(/must be a JSON object/);
    expect(at(0)).toMatch(/needs at least 10/);

    const pref = validateDataset('trl-preference', `${JSON.stringify({ prompt: 'p', chosen: 'a', rejected: 'a' })}\n${JSON.stringify({ prompt: 'p', chosen: 'a' })}\n`);
    expect(pref.errors).toEqual([
      { line: 1, message: 'chosen and rejected must differ' },
      { line: 2, message: 'rejected: is required' },
      { line: 2, message: 'has fields {chosen,prompt} but line 1 has {chosen,prompt,rejected}; every line needs the same fields' },
    ]);
    const dpo = validateDataset('openai-dpo', `${JSON.stringify({ input: { messages: [{ role: 'user', content: 'q' }] }, preferred_output: [{ role: 'assistant', content: 'a' }], non_preferred_output: [] })}\n`, { minExamples: 0 });
    expect(dpo.errors).toEqual([{ line: 1, message: 'non_preferred_output: must be an array of exactly one assistant message' }]);
    expect(validateDataset('trl-kto', `${JSON.stringify({ prompt: 'p', completion: 'c', label: 'yes' })}\n`).errors[0]).toEqual({ line: 1, message: 'label: must be true or false' });
  });

  it('refuses an OpenAI dataset with fewer than 10 training examples, saying why', async () => {
    const agent = await agentWith(corpus(6, 0, 9));
    const err = await buildDataset(t.app, { agent, format: 'openai-sft', validationFraction: 0 }).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(/openai-sft needs at least 10 training examples, but this selection gives 9 \(9 selected/);
    // Other consumers have no such minimum.
    expect((await buildDataset(t.app, { agent, format: 'trl-conversational', validationFraction: 0 })).report.train.examples).toBe(9);
  });
});

describe('dataset operations', () => {
  it('build_dataset and validate_dataset run through the registry', async () => {
    const agent = await agentWith(corpus(8, 0, 15));
    const ctx = { app: t.app, actor: ACTOR, access: FULL_ACCESS };
    const out = (await invoke(findOperation('build_dataset')!, { agent, format: 'axolotl-alpaca' }, ctx)) as {
      train: string; validation: string; records: number; sha256: { train: string }; report: { train: { examples: number } };
    };
    expect(out.records).toBe(15);
    expect(out.report.train.examples).toBe(parse(out.train).length);
    const check = await invoke(findOperation('validate_dataset')!, { data: out.train, format: 'axolotl-alpaca' }, ctx);
    expect(check).toMatchObject({ ok: true, examples: out.report.train.examples });
    expect(findOperation('build_dataset')!.http).toEqual({ method: 'POST', path: '/v1/agents/{agent}/datasets' });
  });

  it('the CLI writes --out and --validation-out, and validates a file', async () => {
    const env = await cliEnv();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-ds-'));
    try {
      const { DATABASE_URL: _, ...parentEnv } = process.env;
      const cli = (args: string[]) => spawnSync(process.execPath, [path.resolve('bin/exemplar.js'), ...args], { env: { ...parentEnv, ...env.env }, encoding: 'utf8' });
      const data = path.join(tmp, 'data.jsonl');
      fs.writeFileSync(data, corpus(9, 0, 30).map((e) => JSON.stringify({ prompt: e.prompt, completion: e.completion, reward_score: e.rewardScore, example_type: e.exampleType })).join('\n'));
      expect(cli(['agents', 'create', 'ds-cli']).status).toBe(0);
      expect(cli(['examples', 'import', data, '--agent', 'ds-cli']).status).toBe(0);
      const train = path.join(tmp, 'train.jsonl');
      const val = path.join(tmp, 'val.jsonl');
      const built = cli(['dataset', 'build', '--agent', 'ds-cli', '--format', 'openai-sft', '--out', train, '--validation-out', val]);
      expect(built.status, built.stderr).toBe(0);
      expect(built.stderr).toMatch(/Built openai-sft: 27 train .* 3 validation/);
      expect(built.stdout).toBe('');
      expect(parse(fs.readFileSync(train, 'utf8'))).toHaveLength(27);
      expect(parse(fs.readFileSync(val, 'utf8'))).toHaveLength(3);
      const ok = cli(['dataset', 'validate', train, '--format', 'openai-sft']);
      expect(ok.stdout).toMatch(/Valid: 27 examples/);
      fs.writeFileSync(path.join(tmp, 'bad.jsonl'), '{"messages": []}\n');
      const bad = cli(['--json', 'dataset', 'validate', path.join(tmp, 'bad.jsonl'), '--format', 'openai-sft']);
      expect(JSON.parse(bad.stdout).errors[0]).toEqual({ line: 1, message: 'messages: must not be empty' });
      expect(bad.status).toBe(1); // an invalid file fails the command, for scripts and CI
      expect(ok.status).toBe(0);
    } finally {
      await env.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
