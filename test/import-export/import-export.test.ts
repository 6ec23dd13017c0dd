import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_FILE } from '../../src/demo/demo.ts';
import { EncodingError, ImportError, ValidationError } from '../../src/errors.ts';
import { exportExamples, importExamples, type ImportOptions } from '../../src/import-export/import-export.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let n = 0;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(() => t.close());

async function freshAgent(): Promise<string> {
  const name = `agent-${++n}`;
  await t.app.agents.create({ name }, ACTOR);
  return name;
}
const run = (agent: string, data: string | Uint8Array, opts: Partial<ImportOptions> = {}) =>
  importExamples(t.app.examples, agent, data, ACTOR, { format: 'jsonl', ...opts }, t.app.config.maxTextBytes);
const line = (i: number, extra: object = {}) =>
  JSON.stringify({ prompt: `q${i}`, completion: `a${i}`, reward_score: 0.5, example_type: 'positive', ...extra });

describe('import', () => {
  it('imports JSONL with metadata, and importing the same file twice adds nothing', async () => {
    const agent = await freshAgent();
    const file = [line(1, { metadata: { src: 'x' } }), '', line(2), line(3, { example_type: 'negative', reward_score: 0.1 })].join('\n') + '\n';
    expect(await run(agent, file)).toMatchObject({ added: 3, duplicates: 0, invalid: 0 });
    expect(await run(agent, file)).toMatchObject({ added: 0, duplicates: 3, invalid: 0 });
    const items = (await t.app.examples.list(agent, { limit: 10 })).items;
    expect(items.find((e) => e.prompt === 'q1')?.metadata).toEqual({ src: 'x' });
    expect(items.find((e) => e.prompt === 'q3')).toMatchObject({ exampleType: 'negative', rewardScore: 0.1 });
  });

  it('imports the demo file: 300+ examples of both types with spread-out rewards', async () => {
    const agent = await freshAgent();
    const r = await run(agent, fs.readFileSync(DEMO_FILE));
    expect(r.invalid).toBe(0);
    expect(r.added).toBeGreaterThanOrEqual(300);
    const pos = await t.app.examples.count(agent, { exampleType: 'positive' });
    const neg = await t.app.examples.count(agent, { exampleType: 'negative' });
    expect(pos).toBeGreaterThan(100);
    expect(neg).toBeGreaterThan(50);
    expect(await t.app.examples.count(agent, { maxScore: 0.3 })).toBeGreaterThan(20);
    expect(await t.app.examples.count(agent, { minScore: 0.9 })).toBeGreaterThan(20);
  });

  it('turns OpenAI chat lines into prompt and completion, with defaults for reward and type', async () => {
    const agent = await freshAgent();
    const chat = JSON.stringify({
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Sum a list in Python?' },
        { role: 'assistant', content: 'sum(xs)' },
      ],
    });
    const partsChat = JSON.stringify({
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'First question' }] },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'Follow-up' },
        { role: 'assistant', content: 'final answer' },
      ],
      reward_score: 0.2,
      example_type: 'negative',
    });
    expect(await run(agent, `${chat}\n${partsChat}\n`, { defaults: { rewardScore: 1, exampleType: 'positive' } })).toMatchObject({ added: 2 });
    const items = (await t.app.examples.list(agent)).items;
    expect(items.find((e) => e.completion === 'sum(xs)')).toMatchObject({
      prompt: 'You are terse.\n\nSum a list in Python?',
      rewardScore: 1,
      exampleType: 'positive',
      metadata: { source_format: 'openai_chat' },
    });
    expect(items.find((e) => e.completion === 'final answer')).toMatchObject({ prompt: 'First question\n\nFollow-up', rewardScore: 0.2, exampleType: 'negative' });
  });

  it('asks for a reward when a chat line has none and no default is given', async () => {
    const agent = await freshAgent();
    const chat = JSON.stringify({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] });
    const err = await run(agent, chat).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.problems[0]).toMatchObject({ line: 1, field: 'reward_score' });
    const noAssistant = JSON.stringify({ messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'q' }], reward_score: 1, example_type: 'positive' });
    expect((await run(agent, noAssistant).catch((e) => e)).problems[0]).toMatchObject({ line: 1, field: 'messages' });
  });

  it('imports CSV with quoted multi-line fields and JSON metadata', async () => {
    const agent = await freshAgent();
    const csv = 'prompt,completion,reward_score,example_type,metadata\n' +
      '"Multi\nline, quoted",answer,0.75,positive,"{""lang"":""py""}"\n' +
      'plain,other answer,0.1,negative,\n';
    expect(await run(agent, csv, { format: 'csv' })).toMatchObject({ added: 2, invalid: 0 });
    const items = (await t.app.examples.list(agent)).items;
    expect(items.find((e) => e.prompt === 'Multi\nline, quoted')).toMatchObject({ rewardScore: 0.75, metadata: { lang: 'py' } });
  });

  it('exports JSONL that imports back to the same examples', async () => {
    const from = await freshAgent();
    const to = await freshAgent();
    await run(from, [line(1, { metadata: { k: [1, 2] } }), line(2, { example_type: 'negative', reward_score: 0 })].join('\n'));
    let out = '';
    for await (const l of exportExamples(t.app.examples, from)) out += l;
    expect(out.trim().split('\n')).toHaveLength(2);
    expect(await run(to, out)).toMatchObject({ added: 2 });
    const strip = (xs: { prompt: string; completion: string; rewardScore: number; exampleType: string; metadata: unknown; contentHash: string }[]) =>
      xs.map(({ prompt, completion, rewardScore, exampleType, metadata, contentHash }) => ({ prompt, completion, rewardScore, exampleType, metadata, contentHash }))
        .sort((a, b) => a.prompt.localeCompare(b.prompt));
    expect(strip((await t.app.examples.list(to)).items)).toEqual(strip((await t.app.examples.list(from)).items));
  });
});

describe('bad files change nothing', () => {
  it('names the line of a malformed JSONL line in the middle of a file', async () => {
    const agent = await freshAgent();
    const before = await snapshot(t.app);
    const file = [line(1), line(2), '{"prompt": "broken", ', line(4)].join('\n');
    const err = await run(agent, file).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0].line).toBe(3);
    expect(err.message).toMatch(/line 3: not valid JSON/);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('names line and field for each invalid value, and --skip-invalid imports the rest', async () => {
    const agent = await freshAgent();
    const file = [
      line(1),
      line(2, { reward_score: 7 }),
      line(3, { example_type: 'meh' }),
      line(4, { prompt: '' }),
      line(5, { reward_score: 'high' }),
      line(6),
    ].join('\n');
    const before = await snapshot(t.app);
    const err = await run(agent, file).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.problems.map((p: { line: number; field: string }) => [p.line, p.field])).toEqual([
      [2, 'reward_score'],
      [3, 'example_type'],
      [4, 'prompt'],
      [5, 'reward_score'],
    ]);
    expect(await snapshot(t.app)).toEqual(before);

    const r = await run(agent, file, { skipInvalid: true });
    expect(r).toMatchObject({ added: 2, invalid: 4, lines: 6 });
    expect(r.problems[0].message).toBe('line 2: reward_score: must be between 0 and 1 (got 7)');
  });

  it('rejects a non-UTF-8 file, naming the line', async () => {
    const agent = await freshAgent();
    const before = await snapshot(t.app);
    const bytes = Buffer.concat([Buffer.from(`${line(1)}\n${line(2)}\n{"prompt":"caf`), Buffer.from([0xe9]), Buffer.from(`","completion":"x","reward_score":1,"example_type":"positive"}\n`)]);
    const err = await run(agent, bytes).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.problems[0]).toMatchObject({ line: 3 });
    expect(err.message).toMatch(/line 3: the file is not valid UTF-8/);
    const csvErr = await run(agent, bytes, { format: 'csv' }).catch((e) => e);
    expect(csvErr).toBeInstanceOf(EncodingError);
    expect(csvErr.details.line).toBe(3);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects a CSV missing a column, naming the column', async () => {
    const agent = await freshAgent();
    const before = await snapshot(t.app);
    const err = await run(agent, 'prompt,completion,example_type\nq,a,positive\n', { format: 'csv' }).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.field).toBe('reward_score');
    expect(err.message).toContain('line 1: reward_score: the CSV header has no "reward_score" column');
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects a CSV row with a bad value, naming its line', async () => {
    const agent = await freshAgent();
    const before = await snapshot(t.app);
    const err = await run(agent, 'prompt,completion,reward_score,example_type\nq,a,0.5,positive\nq2,a2,NaN,positive\n', { format: 'csv' }).catch((e) => e);
    expect(err).toBeInstanceOf(ImportError);
    expect(err.problems[0]).toMatchObject({ line: 3, field: 'reward_score' });
    expect(await snapshot(t.app)).toEqual(before);
  });
});
