import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenError, FULL_ACCESS } from '../../src/access/access.ts';
import { loadDemo, DEMO_AGENT } from '../../src/demo/demo.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { listAudit } from '../../src/audit/audit.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

const LABELLED = fs.readFileSync(new URL('../../data/demo/search-eval.jsonl', import.meta.url), 'utf8');
const HOLDOUT = fs.readFileSync(new URL('../../data/demo/search-eval-holdout.jsonl', import.meta.url), 'utf8');

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp();
  await loadDemo(t.app, ACTOR);
});
afterAll(() => t.close());

describe('the demo agent on its labelled questions', () => {
  // Floors a little under what the default search measures today (npm run bench -- relevance):
  // a ranking change that hurts relevance fails here.
  it('keeps relevance at the default settings above its floor', async () => {
    const r = await t.app.relevance.evaluate(DEMO_AGENT, LABELLED);
    expect(r.questions).toBeGreaterThanOrEqual(40);
    expect(r.approximateSearches).toBe(0); // the memory index is exact
    const [byDefault, simOnly] = r.settings;
    expect(byDefault).toMatchObject({ similarityWeight: 0.6, scoreWeight: 0.4 });
    expect(simOnly).toMatchObject({ similarityWeight: 1, scoreWeight: 0 });
    expect(byDefault.hitAt1).toBeGreaterThanOrEqual(0.6);
    expect(byDefault.hitAt5).toBeGreaterThanOrEqual(0.76);
    expect(byDefault.ndcgAt10).toBeGreaterThanOrEqual(0.7);
    expect(simOnly.hitAt5).toBeGreaterThanOrEqual(0.88);
    // Every miss names the question's line, its target and what ranked above it.
    const miss = byDefault.misses[0];
    expect(miss.line).toBeGreaterThan(0);
    expect(miss.target.input.length).toBeGreaterThan(0);
    expect(miss.above.length).toBeGreaterThan(0);
    expect(byDefault.misses).toHaveLength(Math.round((1 - byDefault.hitAt1) * r.questions));
  });

  it('tunes α and β on one set, and the tuned weights hold on questions it never saw', async () => {
    const tuned = await t.app.relevance.tune(DEMO_AGENT, LABELLED, { step: 0.05, actor: ACTOR });
    expect(tuned.grid).toHaveLength(21);
    expect(tuned.approximateSearches).toBe(0);
    expect(tuned.best.ndcgAt10).toBeGreaterThanOrEqual(tuned.current.ndcgAt10);
    expect(tuned.best.scoreWeight).toBeGreaterThan(0); // reward still counts: β is not tuned away
    expect(tuned.best.hitAt1).toBeGreaterThanOrEqual(0.75);
    expect(tuned.best.hitAt5).toBeGreaterThanOrEqual(0.9);
    const held = await t.app.relevance.evaluate(DEMO_AGENT, HOLDOUT, [tuned.current, tuned.best]);
    expect(held.settings[1].ndcgAt10).toBeGreaterThan(held.settings[0].ndcgAt10);
    expect(held.settings[1].hitAt1).toBeGreaterThanOrEqual(0.7);
  });
});

describe('labelled sets', () => {
  beforeAll(async () => {
    await t.app.agents.create({ name: 'labels' }, ACTOR);
    await t.app.examples.addMany('labels', [
      { prompt: 'How do I sort a list in python?', completion: 'sorted(xs)', rewardScore: 0.9, exampleType: 'positive', metadata: {} },
      { prompt: 'How do I sort a list in python?', completion: 'write bubble sort', rewardScore: 0.1, exampleType: 'negative', metadata: {} },
      { prompt: 'How do I read a file in python?', completion: 'open(path).read()', rewardScore: 0.8, exampleType: 'positive', metadata: {} },
    ], ACTOR);
  });

  it('name the line and field of every problem', async () => {
    const bad = async (text: string) => t.app.relevance.evaluate('labels', text).catch((e: Error) => e.message);
    expect(await bad('{"query": "x", "relevant": ["How do I read"]}\nnot json')).toMatch(/^line 2: not valid JSON/);
    expect(await bad('{"query": "x"}')).toBe('line 1: relevant: is required');
    expect(await bad('{"query": "x", "relevant": []}')).toBe('line 1: relevant: list at least one relevant example');
    expect(await bad('{"query": "x", "relevent": ["a"], "relevant": ["How do I read"]}')).toMatch(/^line 1: input: .*relevent/);
    expect(await bad('{"query": "x", "relevant": ["How do I sort"]}')).toBe(
      'line 1: relevant.0: 2 examples\' prompts start with "How do I sort"; add "exampleType", or a longer prefix',
    );
    expect(await bad('{"query": "x", "relevant": ["How do I"]}')).toMatch(/^line 1: relevant\.0: 3 examples' prompts start with "How do I"; add "exampleType"/);
    expect(await bad('{"query": "x", "relevant": ["Nothing like this"]}')).toBe('line 1: relevant.0: no example\'s prompt starts with "Nothing like this"');
    expect(await bad('{"query": "x", "relevant": [{"id": "not-a-uuid"}]}')).toBe('line 1: relevant.0.id: must be a UUID, got "not-a-uuid"');
    expect(await bad('{"query": "x", "relevant": ["00000000-0000-4000-8000-000000000000"]}')).toBe('line 1: relevant.0.id: the agent has no example 00000000-0000-4000-8000-000000000000');
    expect(await bad('\n\n')).toBe('questions: the labelled set has no questions');
  });

  it('resolve ids and prompt prefixes (narrowed by type), with grades and filters', async () => {
    const { rows } = await t.app.db.query<{ id: string }>(`SELECT e.id::text FROM training_examples e JOIN agents a ON a.id = e.agent_id WHERE a.name = 'labels' AND e.prompt LIKE '%read%'`);
    const set = [
      { query: 'sorting lists', relevant: [{ prompt: 'How do I sort', exampleType: 'positive', grade: 2 }] },
      { query: 'python file reading', relevant: [rows[0].id], exampleType: 'positive' },
    ];
    const r = await t.app.relevance.evaluate('labels', set, [{ similarityWeight: 0.6, scoreWeight: 0.4 }]);
    expect(r).toMatchObject({ source: 'questions', questions: 2 });
    expect(r.settings[0]).toMatchObject({ hitAt1: 1, hitAt5: 1, mrrAt10: 1, ndcgAt10: 1, misses: [] });
    // The same set as JSONL text, through the operation (as the MCP and HTTP doors call it).
    const op = findOperation('evaluate_search')!;
    const viaOp = await invoke(op, { agent: 'labels', questions: set.map((q) => JSON.stringify(q)).join('\n'), compare: ['1,0'] }, { app: t.app, actor: ACTOR, access: FULL_ACCESS });
    expect((viaOp as { settings: unknown[] }).settings).toHaveLength(1);
    await expect(invoke(op, { agent: 'labels', questions: set, compare: ['2,0'] }, { app: t.app, actor: ACTOR, access: FULL_ACCESS })).rejects.toMatchObject({ field: 'compare.0' });
  });
});

describe('relevance judgments', () => {
  let ids: string[];
  beforeAll(async () => {
    await t.app.agents.create({ name: 'judged' }, ACTOR);
    const added = await t.app.examples.addMany('judged', [
      { prompt: 'merge two dicts in python', completion: '{**a, **b}', rewardScore: 0.9, exampleType: 'positive', metadata: {} },
      { prompt: 'python dict comprehension', completion: '{k: v for k, v in xs}', rewardScore: 0.95, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    ids = added.ids;
  });

  it('are stored per agent with who and when, replaced when judged again, and audited', async () => {
    await expect(t.app.relevance.evaluate('judged', undefined)).rejects.toThrow(/has no relevance judgments yet/);
    const first = await t.app.relevance.judge('judged', { query: '  combine   two dicts ', exampleId: ids[1], grade: 1 }, 'key:alice');
    expect(first).toMatchObject({ query: 'combine two dicts', exampleId: ids[1], grade: 1, judgedBy: 'key:alice' });
    await t.app.relevance.judge('judged', { query: 'combine two dicts', exampleId: ids[1], grade: 0 }, 'key:bob');
    await t.app.relevance.judge('judged', { query: 'combine two dicts', exampleId: ids[0], grade: 2 }, 'key:bob');
    const all = await t.app.relevance.judgments('judged');
    expect(all.map((j) => [j.exampleId, j.grade, j.judgedBy]).sort()).toEqual([[ids[0], 2, 'key:bob'], [ids[1], 0, 'key:bob']].sort());
    const audit = (await listAudit(t.app.db, { limit: 10 })).filter((a) => a.action === 'judgment.set');
    expect(audit.length).toBe(3);
    expect(audit[0].details).toMatchObject({ query: 'combine two dicts' });
  });

  it('form the labelled set when no file is given', async () => {
    const r = await t.app.relevance.evaluate('judged', undefined, [{ similarityWeight: 1, scoreWeight: 0 }]);
    expect(r).toMatchObject({ source: 'judgments', questions: 1 });
    expect(r.settings[0].hitAt1).toBe(1); // "merge two dicts" is the more similar one
    const tuned = await t.app.relevance.tune('judged', undefined, { step: 0.5, actor: ACTOR });
    expect(tuned.grid.map((g) => g.similarityWeight)).toEqual([0, 0.5, 1]);
  });

  it('refuse an example of another agent, and go when their example goes', async () => {
    const other = (await t.app.examples.add('labels', { prompt: 'elsewhere', completion: 'c', rewardScore: 0.5, exampleType: 'positive' }, ACTOR)).id;
    await expect(t.app.relevance.judge('judged', { query: 'q', exampleId: other, grade: 1 }, ACTOR)).rejects.toMatchObject({ field: 'exampleId' });
    await expect(t.app.relevance.judge('judged', { query: ' ', exampleId: ids[0], grade: 1 }, ACTOR)).rejects.toThrow();
    await t.app.examples.delete([ids[0]], ACTOR);
    expect((await t.app.relevance.judgments('judged')).map((j) => j.exampleId)).toEqual([ids[1]]);
  });
});

describe('tuning with apply', () => {
  it('stores the best weights on the agent, audited, and needs write access', async () => {
    await t.app.agents.create({ name: 'tuned' }, ACTOR);
    await t.app.examples.addMany('tuned', [
      { prompt: 'reverse a string in python', completion: 's[::-1]', rewardScore: 0.5, exampleType: 'positive', metadata: {} },
      { prompt: 'kubernetes ingress yaml', completion: 'kind: Ingress', rewardScore: 1, exampleType: 'positive', metadata: {} },
    ], ACTOR);
    const set = '{"query": "reverse a string in python", "relevant": ["reverse a string"]}';
    const op = findOperation('tune_search')!;
    const reader = await t.app.apiKeys.authenticate((await t.app.apiKeys.create({ scopes: ['read:tuned'] }, ACTOR)).key);
    const ctx = (access: typeof reader) => ({ app: t.app, actor: `key:${access.keyId}`, access });
    // Reading the grid is fine; storing it is not.
    await expect(invoke(op, { agent: 'tuned', questions: set, step: 0.5 }, ctx(reader))).resolves.toMatchObject({ applied: false });
    await expect(invoke(op, { agent: 'tuned', questions: set, step: 0.5, apply: true }, ctx(reader))).rejects.toThrow(ForbiddenError);
    const r = await t.app.relevance.tune('tuned', set, { step: 0.5, apply: true, actor: ACTOR });
    expect(r.best).toMatchObject({ similarityWeight: 1, scoreWeight: 0, hitAt1: 1 });
    expect(r.applied).toBe(true);
    expect(await t.app.agents.get('tuned')).toMatchObject({ similarityWeight: 1, scoreWeight: 0 });
    const [entry] = (await listAudit(t.app.db, { limit: 5 })).filter((a) => a.action === 'agent.tune');
    expect(entry.details).toMatchObject({ from: { similarityWeight: 0.6, scoreWeight: 0.4 }, to: { similarityWeight: 1, scoreWeight: 0 }, questions: 1 });
    // Tuning again changes nothing.
    expect((await t.app.relevance.tune('tuned', set, { step: 0.5, apply: true, actor: ACTOR })).applied).toBe(false);
  });
});
