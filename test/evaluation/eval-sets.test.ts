import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvalSetService } from '../../src/evaluation/eval-sets.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let sets: EvalSetService;

beforeAll(async () => {
  t = await openTestApp();
  sets = new EvalSetService(t.app.db, t.app.agents);
  await t.app.agents.create({ name: 'evals' }, ACTOR);
  const agentId = (await t.app.agents.get('evals')).id;
  // 40 positives; the first 10 prompts also have a negative answer (one with different spacing and case).
  await t.app.db.query(
    `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
     SELECT $1, 'How do I do task ' || g || '?', 'Like this: ' || g, 0.9, 'positive' FROM generate_series(1, 40) g`,
    [agentId],
  );
  await t.app.db.query(
    `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
     SELECT $1, CASE WHEN g = 1 THEN E'  how do I  do task 1?\\n' ELSE 'How do I do task ' || g || '?' END, 'Not like this: ' || g, 0.1, 'negative'
       FROM generate_series(1, 10) g`,
    [agentId],
  );
  await t.app.agents.create({ name: 'no-positives' }, ACTOR);
});
afterAll(() => t.close());

describe('eval sets', () => {
  it('picks a seeded fifth of the positives, with the negatives of the same prompts as contrast', async () => {
    const set = await sets.create('evals', { actor: ACTOR });
    expect(set).toMatchObject({ agent: 'evals', version: 1, seed: 1, requestedSize: 8, items: 8, created: true, changed: 0 });
    expect(set.contentHash).toMatch(/^[0-9a-f]{64}$/);
    // Every contrast answers one of the items' prompts; spacing and case do not matter.
    const { rows } = await t.app.db.query<{ id: string; prompt: string; type: string }>(
      `SELECT id::text, lower(btrim(regexp_replace(prompt, '\\s+', ' ', 'g'))) AS prompt, example_type AS type FROM training_examples WHERE id = ANY ($1::uuid[])`,
      [set.members.map((m) => m.exampleId)],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const itemPrompts = new Set(set.members.filter((m) => m.role === 'item').map((m) => byId.get(m.exampleId)!.prompt));
    for (const m of set.members) expect(byId.get(m.exampleId)!.type).toBe(m.role === 'item' ? 'positive' : 'negative');
    for (const m of set.members.filter((c) => c.role === 'contrast')) expect(itemPrompts.has(byId.get(m.exampleId)!.prompt)).toBe(true);
    const expectedContrasts = [...itemPrompts].filter((p) => /task (10|[1-9])\?$/.test(p)).length;
    expect(set.contrasts).toBe(expectedContrasts);
  });

  it('gives the same set for the same seed and size, and a new version for another', async () => {
    const again = await sets.create('evals', { actor: ACTOR });
    expect(again).toMatchObject({ version: 1, created: false });
    const other = await sets.create('evals', { seed: 7, size: 12, actor: ACTOR });
    expect(other).toMatchObject({ version: 2, items: 12, created: true });
    expect(other.contentHash).not.toBe(again.contentHash);
    expect((await sets.get('evals')).version).toBe(2);
    expect((await sets.get('evals', 1)).contentHash).toBe(again.contentHash);
    const audit = await t.app.db.query(`SELECT details FROM audit_log WHERE action = 'eval_set.create' ORDER BY id`);
    expect(audit.rows).toHaveLength(2);
  });

  it('says when a pinned member changed or was deleted since', async () => {
    const set = await sets.get('evals', 2);
    const [first, second] = set.members.filter((m) => m.role === 'item');
    await t.app.db.query(`UPDATE training_examples SET completion = completion || ' (edited)' WHERE id = $1`, [first.exampleId]);
    await t.app.db.query(`DELETE FROM training_examples WHERE id = $1`, [second.exampleId]);
    const now = await sets.get('evals', 2);
    expect(now.changed).toBe(2);
    expect(now.contentHash).toBe(set.contentHash);
    expect(now.members.find((m) => m.exampleId === second.exampleId)).toMatchObject({ changed: true });
  });

  it('keeps nearly the same members when an example is added: a new version, not a new sample', async () => {
    await t.app.agents.create({ name: 'growing' }, ACTOR);
    const agentId = (await t.app.agents.get('growing')).id;
    await t.app.db.query(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
       SELECT $1, 'Growing task ' || g || '?', 'Done: ' || g, 0.9, 'positive' FROM generate_series(1, 40) g`,
      [agentId],
    );
    const items = (s: { members: { exampleId: string; role: string }[] }) => new Set(s.members.filter((m) => m.role === 'item').map((m) => m.exampleId));
    const before = items(await sets.create('growing', { size: 20, seed: 5, actor: ACTOR }));
    await t.app.examples.add('growing', { prompt: 'Growing task 41?', completion: 'Done: 41', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    const after = await sets.create('growing', { size: 20, seed: 5, actor: ACTOR });
    const kept = [...items(after)].filter((id) => before.has(id)).length;
    expect(kept).toBeGreaterThanOrEqual(19); // the new example can take at most one place
  });

  it('names the field when the request cannot be met', async () => {
    await expect(sets.create('evals', { size: 0, actor: ACTOR })).rejects.toThrow(/size.*from 1 to 2000/);
    await expect(sets.create('evals', { size: 100, actor: ACTOR })).rejects.toThrow(/has 39 positive examples, fewer than the 100 asked for/);
    await expect(sets.create('no-positives', { actor: ACTOR })).rejects.toThrow(/has no positive examples to evaluate on/);
    await expect(sets.get('no-positives')).rejects.toThrow(/eval set/);
  });
});
