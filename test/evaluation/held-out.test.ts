import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { buildDataset } from '../../src/datasets/builder.ts';
import { nearDuplicateMatcher, prng } from '../../src/datasets/near-dup.ts';
import { hashingVector } from '../../src/embeddings/hashing.ts';
import { EvalSetService } from '../../src/evaluation/eval-sets.ts';
import { loadHeldOut, type HeldOut } from '../../src/evaluation/held-out.ts';
import type { NewExample } from '../../src/examples/example.ts';
import { fewShotPrompt } from '../../src/mcp/content.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

// The eval-set guard (issue 15): an agent's eval-set examples, of every version, and near
// duplicates of them never ground an optimization, appear as few-shot examples or go into a dataset.

const WORDS = (
  'apple river stone cloud table python docker rust git branch merge socket thread mutex cache index query vector ' +
  'matrix kernel buffer stream parser lexer token syntax compile deploy server client proxy router packet header cookie ' +
  'session schema column row join filter sort hash tree graph node edge queue stack heap array list map set string'
).split(' ');

const rand = prng(15);
/** Random words: two such texts share little, so they are never near duplicates by accident. */
const words = (k: number) => Array.from({ length: k }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
const ex = (prompt: string, completion: string, rewardScore: number, exampleType: 'positive' | 'negative'): NewExample =>
  ({ prompt, completion, rewardScore, exampleType, metadata: {} });

interface Row { id: string; prompt: string; completion: string; type: string }

let t: TestEnv;
let sets: EvalSetService;
const AGENT = 'guarded';
let rows: Row[];
let members: Set<string>;
let v1Only: Set<string>;
let contrasts: Set<string>;
/** Near copies (one word added) of members that are not members themselves: a positive and a negative. */
let nearDups: Row[];
/** A text unlike any member, added with the near duplicates. */
let unrelated: Row;

async function examplesOf(agent: string): Promise<Row[]> {
  const { rows: all } = await t.app.db.query<Row>(
    `SELECT e.id::text, e.prompt, e.completion, e.example_type AS type FROM training_examples e JOIN agents a ON a.id = e.agent_id WHERE a.name = $1`,
    [agent],
  );
  return all;
}

beforeAll(async () => {
  t = await openTestApp();
  sets = new EvalSetService(t.app.db, t.app.agents);
  await t.app.agents.create({ name: AGENT, description: 'Answers questions about code.' }, ACTOR);
  // 40 prompts with a good answer; the first 20 also have a bad one (the contrasts of those picked).
  const prompts = Array.from({ length: 40 }, (_, i) => `question ${i}: ${words(10)}?`);
  await t.app.examples.addMany(AGENT, [
    ...prompts.map((p) => ex(p, `good answer ${words(18)}`, 0.7 + rand() * 0.3, 'positive')),
    ...prompts.slice(0, 20).map((p) => ex(p, `bad answer ${words(18)}`, rand() * 0.3, 'negative')),
  ], ACTOR);
  const v1 = await sets.create(AGENT, { size: 6, seed: 1, actor: ACTOR });
  const v2 = await sets.create(AGENT, { size: 6, seed: 2, actor: ACTOR });
  expect([v1.version, v2.version]).toEqual([1, 2]);
  members = new Set([...v1.members, ...v2.members].map((m) => m.exampleId));
  contrasts = new Set([...v1.members, ...v2.members].filter((m) => m.role === 'contrast').map((m) => m.exampleId));
  v1Only = new Set(v1.members.map((m) => m.exampleId).filter((id) => !v2.members.some((m) => m.exampleId === id)));
  expect(v1Only.size).toBeGreaterThan(0); // the older version has members of its own
  expect(contrasts.size).toBeGreaterThan(0);

  // After the sets are pinned (so these cannot be members): near copies of two v1-only members,
  // one of them stored as a negative (a leak is about text, whatever the label), and one unrelated text.
  const before = await examplesOf(AGENT);
  const [a, b] = before.filter((r) => v1Only.has(r.id));
  await t.app.examples.addMany(AGENT, [
    ex(a.prompt, `${a.completion} indeed`, 0.95, 'positive'),
    ex(`${b.prompt} please`, b.completion, 0.1, 'negative'),
    ex(`unrelated question: ${words(10)}?`, `good answer ${words(18)}`, 0.9, 'positive'),
  ], ACTOR);
  rows = await examplesOf(AGENT);
  const added = rows.filter((r) => !before.some((o) => o.id === r.id));
  unrelated = added.find((r) => r.prompt.startsWith('unrelated'))!;
  nearDups = added.filter((r) => r !== unrelated);
  expect(nearDups).toHaveLength(2);

  // An agent with no eval set, and one whose member is deleted later.
  await t.app.agents.create({ name: 'no-evals' }, ACTOR);
  await t.app.examples.addMany('no-evals', [ex('q', 'a', 0.9, 'positive')], ACTOR);
});
afterAll(() => t.close());

const heldOutIds = () => new Set([...members, ...nearDups.map((r) => r.id)]);

describe('the held-out set', () => {
  it('holds every version\'s items and contrasts, and near duplicates of them, and nothing else', async () => {
    const held = (await loadHeldOut(t.app.db, AGENT)) as HeldOut;
    expect(held.size).toBe(members.size);
    const why = held.check(rows);
    const got = new Map(rows.map((r, i) => [r.id, why[i]]));
    for (const id of members) expect(got.get(id)).toEqual({ kind: 'member' });
    for (const id of [...contrasts, ...v1Only]) expect(got.get(id)?.kind).toBe('member');
    for (const d of nearDups) {
      const w = got.get(d.id);
      expect(w).toMatchObject({ kind: 'nearDuplicate' });
      expect(w?.kind === 'nearDuplicate' && v1Only.has(w.of)).toBe(true);
      expect(w?.kind === 'nearDuplicate' && w.similarity).toBeGreaterThanOrEqual(0.95);
    }
    expect(got.get(unrelated.id)).toBeUndefined();
    // Everything else stays usable: exactly the members and the two near copies are held out.
    expect(new Set(rows.filter((_, i) => why[i]).map((r) => r.id))).toEqual(heldOutIds());
    expect(held.filter(rows).length).toBe(rows.length - heldOutIds().size);
  });

  it('holds another answer to an eval prompt, even one added after pinning, whatever its text', async () => {
    const name = 'same-prompts';
    await t.app.agents.create({ name }, ACTOR);
    await t.app.examples.addMany(name, Array.from({ length: 10 }, (_, i) => [
      ex(`Same question ${i}?`, `first answer ${i}: ${words(12)}`, 0.9, 'positive'),
      ex(`same   QUESTION ${i}?`, `second answer ${i}: ${words(12)}`, 0.8, 'positive'),
    ]).flat(), ACTOR);
    const set = await new EvalSetService(t.app.db, t.app.agents).create(name, { size: 4, seed: 3, actor: ACTOR });
    const asked = new Set(set.members.map((m) => m.exampleId));
    await t.app.examples.add(name, { prompt: (await t.app.examples.get([...asked][0])).prompt, completion: `a later answer: ${words(12)}`, rewardScore: 0.7, exampleType: 'positive' }, ACTOR);
    const all = await examplesOf(name);
    const why = (await loadHeldOut(t.app.db, name))!.check(all);
    const evalPrompts = new Set(all.filter((r) => asked.has(r.id)).map((r) => r.prompt.toLowerCase().replace(/\s+/g, ' ')));
    all.forEach((r, i) => {
      const sameQuestion = evalPrompts.has(r.prompt.toLowerCase().replace(/\s+/g, ' '));
      if (asked.has(r.id)) expect(why[i]).toEqual({ kind: 'member' });
      else if (sameQuestion) expect(why[i]).toMatchObject({ kind: 'samePrompt' });
      else expect(why[i], r.prompt).toBeUndefined();
    });
    const later = all.findIndex((r) => r.completion.startsWith('a later answer'));
    expect(why[later]).toMatchObject({ kind: 'samePrompt' });
    expect(why.filter((w) => w?.kind === 'samePrompt').length).toBeGreaterThanOrEqual(3); // second answers the sample did not take, and the later one
  });

  it('is found by name or id, and is nothing for an agent without an eval set', async () => {
    const id = (await t.app.agents.get(AGENT)).id;
    expect((await loadHeldOut(t.app.db, id))?.size).toBe(members.size);
    expect(await loadHeldOut(t.app.db, 'no-evals')).toBeUndefined();
  });

  it('is read again (not served from its cache) when a new version or an edit changes it', async () => {
    await t.app.agents.create({ name: 'changing' }, ACTOR);
    await t.app.examples.addMany('changing', Array.from({ length: 10 }, (_, i) => ex(`changing ${i}: ${words(10)}?`, words(18), 0.9, 'positive')), ACTOR);
    await sets.create('changing', { size: 2, seed: 1, actor: ACTOR });
    const first = (await loadHeldOut(t.app.db, 'changing'))!;
    expect(first.size).toBe(2);
    expect(await loadHeldOut(t.app.db, 'changing')).toBe(first); // the same set: its index is reused
    await sets.create('changing', { size: 3, seed: 2, actor: ACTOR });
    const second = (await loadHeldOut(t.app.db, 'changing'))!;
    expect(second.size).toBeGreaterThan(2);
    // A member's new text is what its near copies are compared with.
    const [id] = second.ids;
    const text = `edited ${words(25)}`;
    await t.app.db.query(`UPDATE training_examples SET completion = $2 WHERE id = $1`, [id, text]);
    const { rows: [m] } = await t.app.db.query<{ prompt: string }>(`SELECT prompt FROM training_examples WHERE id = $1`, [id]);
    const third = (await loadHeldOut(t.app.db, 'changing'))!;
    expect(third).not.toBe(second);
    expect(third.check([{ id: 'copy', prompt: m.prompt, completion: `${text} again` }])[0]).toMatchObject({ kind: 'nearDuplicate', of: id });
  });

  it('matches every near duplicate right at the threshold, and nothing below it', () => {
    const cos = (a: string, b: string) => {
      const [x, y] = [hashingVector(a), hashingVector(b)];
      return x.reduce((s, v, i) => s + v * y[i], 0);
    };
    // 400 references; for each, a copy with words appended until its cosine is just at or just below 0.95.
    const refs = Array.from({ length: 400 }, () => `${words(10)}\n${words(30)}`);
    const at: { text: string; ref: number }[] = [];
    const below: string[] = [];
    refs.forEach((ref, i) => {
      let text = ref;
      for (let k = 0; k < 40; k++) {
        const next = `${text} ${words(1)}`;
        const c = cos(ref, next);
        if (c < 0.95) {
          if (c >= 0.93) below.push(next);
          break;
        }
        text = next;
        if (c < 0.96) at.push({ text, ref: i });
      }
    });
    expect(at.length).toBeGreaterThan(300);
    expect(below.length).toBeGreaterThan(300);
    const match = nearDuplicateMatcher(refs, 0.95);
    const found = match(at.map((a) => a.text));
    // Banding 64 signature bits would miss about one in ten of these; the guard may not.
    expect(at.filter((a, k) => found.referenceOf[k] !== a.ref)).toEqual([]);
    for (const s of found.similarity) expect(s).toBeGreaterThanOrEqual(0.95);
    expect(Array.from(match(below).referenceOf).filter((j) => j >= 0)).toEqual([]);
  });
});

describe('retrieval with the held-out set excluded', () => {
  it('still returns the exact top k of the remaining examples when held-out ones rank first', async () => {
    const held = (await loadHeldOut(t.app.db, AGENT))!;
    // Ask for a member's own prompt: it, its near copy and its contrast rank at the top.
    const member = rows.find((r) => v1Only.has(r.id) && r.type === 'positive' && nearDups.some((d) => d.prompt === r.prompt))!;
    for (const exampleType of ['positive', 'negative'] as const) {
      const plain = await t.app.retrieval.hybridRetrieveBestExamples({ agentId: AGENT, query: member.prompt, topK: 200, exampleType });
      const expected = plain.results.filter((r) => !heldOutIds().has(r.id)).slice(0, 8).map((r) => r.id);
      if (exampleType === 'positive') expect(plain.results.slice(0, 8).some((r) => heldOutIds().has(r.id))).toBe(true); // the guard has something to do
      const guarded = await t.app.retrieval.hybridRetrieveBestExamples({ agentId: AGENT, query: member.prompt, topK: 8, exampleType }, { heldOut: held });
      expect(guarded.results.map((r) => r.id)).toEqual(expected);
      expect(guarded.results).toHaveLength(8);
    }
    // SQL-only filters and the no-query (reward) ranking fill k the same way.
    const contains = await t.app.retrieval.hybridRetrieveBestExamples({ agentId: AGENT, query: member.prompt, topK: 8, contains: 'answer' }, { heldOut: held });
    expect(contains.results).toHaveLength(8);
    expect(contains.results.some((r) => heldOutIds().has(r.id))).toBe(false);
    const plainReward = await t.app.retrieval.hybridRetrieveBestExamples({ agentId: AGENT, topK: 60, exampleType: 'negative' });
    const byReward = await t.app.retrieval.hybridRetrieveBestExamples({ agentId: AGENT, topK: 5, exampleType: 'negative' }, { heldOut: held });
    expect(byReward.results.map((r) => r.id)).toEqual(plainReward.results.filter((r) => !heldOutIds().has(r.id)).slice(0, 5).map((r) => r.id));
  });

  it('is what retrieveBalanced does when asked, and plain search still finds every example', async () => {
    const member = rows.find((r) => v1Only.has(r.id) && r.type === 'positive' && !nearDups.some((d) => d.prompt === r.prompt))!;
    const mix = await t.app.retrieval.retrieveBalanced({ agentId: AGENT, query: member.prompt, topK: 10 }, { excludeHeldOut: true });
    expect(mix.heldOut).toBe(members.size);
    expect([...mix.positive, ...mix.negative]).toHaveLength(10);
    expect([...mix.positive, ...mix.negative].some((r) => heldOutIds().has(r.id))).toBe(false);
    const plain = await t.app.hybridRetrieveBestExamples({ agentId: AGENT, query: member.prompt, topK: 3, exampleType: 'positive' });
    expect(plain.results.map((r) => r.id)).toContain(member.id); // users can still find their eval examples
  });
});

describe('few-shot prompts', () => {
  it('never show an eval-set example or a near copy of one, even for its own prompt', async () => {
    for (const member of rows.filter((r) => members.has(r.id) && r.type === 'positive')) {
      const text = await fewShotPrompt(t.app, FULL_ACCESS, AGENT, member.prompt, 8);
      for (const r of rows) {
        if (heldOutIds().has(r.id)) expect(text).not.toContain(r.completion);
      }
      expect(rows.filter((r) => !heldOutIds().has(r.id) && text.includes(r.completion)).length).toBeGreaterThanOrEqual(6);
    }
  });
});

describe('datasets', () => {
  it('never contain an eval-set example or a near duplicate, and count them, whatever the options', async () => {
    const held = heldOutIds();
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const spec of [
      { format: 'trl-prompt-completion' as const },
      { format: 'trl-prompt-completion' as const, dedupe: false },
      { format: 'trl-prompt-completion' as const, nearDuplicateThreshold: 0 },
      { format: 'trl-kto' as const },
      { format: 'trl-preference' as const },
      { format: 'trl-kto' as const, query: rows.find((r) => members.has(r.id))!.prompt, limit: 30 },
    ]) {
      const built = await buildDataset(t.app, { agent: AGENT, validationFraction: 0.2, ...spec });
      const ids = built.records.map((r) => r.id);
      expect(ids.some((id) => held.has(id)), spec.format).toBe(false);
      const files = built.train + built.validation;
      for (const id of held) expect(files).not.toContain(byId.get(id)!.completion);
      // Every selected held-out example is counted and given a reason.
      const selectedHeld = spec.query
        ? built.report.removed.heldOut // the query's own top k: checked against the reasons below
        : rows.filter((r) => held.has(r.id) && (spec.format !== 'trl-prompt-completion' || r.type === 'positive')).length;
      expect(built.report.removed.heldOut).toBe(selectedHeld);
      expect(built.report.removed.heldOut).toBeGreaterThan(0);
      const reasons = built.report.removed.reasons.filter((r) => r.reason.startsWith('held out'));
      expect(reasons).toHaveLength(built.report.removed.heldOut);
      expect(reasons.every((r) => held.has(r.id))).toBe(true);
    }
    const sft = await buildDataset(t.app, { agent: AGENT, format: 'trl-prompt-completion', validationFraction: 0 });
    expect(sft.report.removed.reasons.find((r) => r.id === nearDups[0].id)?.reason).toMatch(/^held out: near duplicate of eval-set example [0-9a-f-]{36} \(cosine 0\.9\d\d\)$/);
    expect(sft.records.map((r) => r.id)).toContain(unrelated.id);
  });

  it('keep a fine-tuning run\'s training file free of them too', async () => {
    const run = await t.app.runs.create(
      { backend: 'external', baseModel: 'm', dataset: { agent: AGENT, format: 'trl-conversational', validationFraction: 0 } },
      ACTOR,
    );
    const { rows: used } = await t.app.db.query<{ id: string }>(`SELECT example_id::text AS id FROM run_examples WHERE run_id = $1`, [run.id]);
    expect(used.length).toBeGreaterThan(20);
    expect(used.some((u) => heldOutIds().has(u.id))).toBe(false);
  });

  it('stay held out when a member is deleted or edited after pinning', async () => {
    const [gone, edited] = rows.filter((r) => v1Only.has(r.id) && r.type === 'positive' && !nearDups.some((d) => d.prompt === r.prompt || d.completion === r.completion));
    await t.app.db.query(`DELETE FROM training_examples WHERE id = $1`, [gone.id]);
    await t.app.db.query(`UPDATE training_examples SET completion = $2 WHERE id = $1`, [edited.id, `edited ${words(18)}`]);
    const held = (await loadHeldOut(t.app.db, AGENT))!;
    expect(held.ids.has(gone.id)).toBe(true);
    const built = await buildDataset(t.app, { agent: AGENT, format: 'trl-prompt-completion', validationFraction: 0 });
    expect(built.records.map((r) => r.id)).not.toContain(edited.id);
  });
});
