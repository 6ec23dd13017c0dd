import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../src/errors.ts';
import type { NewExample } from '../../src/examples/example.ts';
import { withSource } from '../../src/examples/origin.ts';
import { agentStats } from '../../src/examples/stats.ts';
import { listAudit } from '../../src/audit/audit.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let keyActor: string;
beforeAll(async () => {
  t = await openTestApp();
  await t.app.agents.create({ name: 'bench' }, ACTOR);
  const key = await t.app.apiKeys.create({ scopes: ['admin'], name: 'alice-laptop' }, ACTOR);
  keyActor = `key:${key.id}`;
});
afterAll(() => t.close());

const ex = (i: number, extra: Partial<NewExample> = {}): NewExample => ({
  prompt: `wb question ${i}`,
  completion: `wb answer ${i}`,
  rewardScore: (i % 10) / 10,
  exampleType: i % 3 === 0 ? 'negative' : 'positive',
  metadata: { i, team: i % 2 === 0 ? 'even' : 'odd', ...(i % 5 === 0 ? { ticket: `T-${i}` } : {}) },
  ...extra,
});

describe('reward history', () => {
  it("records each rating with who, when, old and new value; psql changes as \"database\"; key actors by the key's name", async () => {
    const e = await t.app.examples.add('bench', { prompt: 'history p', completion: 'history c', rewardScore: 0.5, exampleType: 'positive' }, 'cli:alice');
    expect(await t.app.examples.history(e.id)).toEqual([]); // creation is not a rating

    await t.app.examples.update(e.id, { rewardScore: 0.33 }, keyActor);
    await t.app.examples.update(e.id, { completion: 'history c2' }, 'cli:alice'); // not a rating
    await t.app.db.query(`UPDATE training_examples SET example_type = 'negative' WHERE id = $1`, [e.id]); // outside Exemplar
    await t.app.examples.update(e.id, { rewardScore: 0.33 }, 'cli:bob'); // the same value: a confirmation, still a rating

    const history = await t.app.examples.history(e.id);
    expect(history.map(({ at: _, ...h }) => h)).toEqual([
      { actor: keyActor, actorName: 'alice-laptop', oldReward: 0.5, newReward: 0.33, oldType: 'positive', newType: 'positive' },
      { actor: 'database', actorName: 'database', oldReward: 0.33, newReward: 0.33, oldType: 'positive', newType: 'negative' },
      { actor: 'cli:bob', actorName: 'cli:bob', oldReward: 0.33, newReward: 0.33, oldType: 'negative', newType: 'negative' },
    ]);
    expect(history[0].at).toBeInstanceOf(Date);
    // The actor setting ends with its transaction: a later plain UPDATE is "database" again.
    await t.app.db.query(`UPDATE training_examples SET reward_score = 0.9 WHERE id = $1`, [e.id]);
    expect((await t.app.examples.history(e.id)).at(-1)).toMatchObject({ actor: 'database', newReward: 0.9 });
  });

  it('records where each example came from: the door, an import, or the database', async () => {
    const lib = await t.app.examples.add('bench', { prompt: 'src lib', completion: 'c', rewardScore: 0.5, exampleType: 'positive' }, ACTOR);
    expect(lib.source).toBe('library');
    const ui = await withSource('ui', () => t.app.examples.add('bench', { prompt: 'src ui', completion: 'c', rewardScore: 0.5, exampleType: 'positive' }, ACTOR));
    expect(ui.source).toBe('ui');
    const agent = await t.app.agents.get('bench');
    const { rows } = await t.app.db.query<{ source: string }>(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, 'src psql', 'c', 0.5, 'positive') RETURNING source`,
      [agent.id],
    );
    expect(rows[0].source).toBe('database');
  });
});

describe('list filters', () => {
  beforeAll(async () => {
    await t.app.agents.create({ name: 'grid' }, ACTOR);
    await t.app.examples.addMany('grid', Array.from({ length: 30 }, (_, i) => ex(i)), ACTOR);
  });

  it('filters by metadata values and keys, with a total for paging', async () => {
    const even = await t.app.examples.list('grid', { metadata: { team: 'even' }, limit: 5 });
    expect(even.total).toBe(15);
    expect(even.items).toHaveLength(5);
    expect(even.items.every((e) => e.metadata.team === 'even')).toBe(true);
    const ticketed = await t.app.examples.list('grid', { metadataKeys: ['ticket'] });
    expect(ticketed.total).toBe(6);
    expect((await t.app.examples.list('grid', { metadataKeys: ['ticket'], metadata: { team: 'odd' }, minScore: 0.5 })).items.map((e) => e.metadata.i).sort((x, y) => Number(x) - Number(y))).toEqual([5, 15, 25]);
    expect((await t.app.examples.list('grid', { metadata: { i: 3 } })).total).toBe(1);
  });

  it('refuses filter combinations that cannot match, naming the field and saying why', async () => {
    const err = await t.app.examples.list('grid', { minScore: 0.9, maxScore: 0.2 }).catch((x) => x);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toBe('minScore: is above maxScore (0.9 > 0.2): no example could match');
    const time = await t.app.examples.list('grid', { createdAfter: '2026-02-01T00:00:00Z', createdBefore: '2026-01-01T00:00:00Z' }).catch((x) => x);
    expect(time).toBeInstanceOf(ValidationError);
    expect(time.field).toBe('createdAfter');
    await expect(t.app.examples.count('grid', { minScore: 0.5, maxScore: 0.4 })).rejects.toThrow(/maxScore/);
    expect((await t.app.examples.list('grid', { minScore: 0.5, maxScore: 0.5 })).total).toBe(3); // equal bounds are fine
  });

  it('sorts by type, each row once across pages: positive_first newest first within a type, negative_first its reverse', async () => {
    for (const sort of ['positive_first', 'negative_first'] as const) {
      const seen: { type: string; created: number }[] = [];
      let cursor: string | undefined;
      do {
        const page = await t.app.examples.list('grid', { sort, limit: 7, cursor });
        expect(page.total).toBe(30);
        seen.push(...page.items.map((e) => ({ type: e.exampleType, created: e.createdAt.getTime() })));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toHaveLength(30);
      const first = sort === 'positive_first' ? 'positive' : 'negative';
      const firstCount = seen.filter((s) => s.type === first).length;
      expect(seen.slice(0, firstCount).every((s) => s.type === first)).toBe(true);
      for (let i = 1; i < seen.length; i++) {
        if (seen[i].type !== seen[i - 1].type) continue;
        if (sort === 'positive_first') expect(seen[i].created).toBeLessThanOrEqual(seen[i - 1].created);
        else expect(seen[i].created).toBeGreaterThanOrEqual(seen[i - 1].created);
      }
    }
    await expect(t.app.examples.list('grid', { sort: 'positive_first', cursor: 'nonsense' })).rejects.toThrow(/cursor/);
  });

  it('selects the review queue: examples no person has rated since creation', async () => {
    const all = await t.app.examples.list('grid', { needsReview: true, limit: 1000 });
    expect(all.total).toBe(30);
    const [a, b, c] = all.items;
    await t.app.examples.update(a.id, { rewardScore: a.rewardScore }, 'cli:alice'); // confirmed as it is
    await t.app.examples.bulk([b.id], { action: 'set_type', exampleType: 'negative' }, keyActor);
    await t.app.db.query(`UPDATE training_examples SET reward_score = 0.01 WHERE id = $1`, [c.id]); // psql: not a person's review
    const left = await t.app.examples.list('grid', { needsReview: true, limit: 1000 });
    expect(left.total).toBe(28);
    expect(left.items.map((e) => e.id)).toContain(c.id);
    expect((await t.app.examples.list('grid', { needsReview: false })).items.map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
  });
});

describe('bulk changes', () => {
  let ids: string[];
  beforeAll(async () => {
    await t.app.agents.create({ name: 'bulk' }, ACTOR);
    ids = (await t.app.examples.addMany('bulk', Array.from({ length: 12 }, (_, i) => ex(100 + i)), ACTOR)).ids;
  });

  it('sets the type or the reward of many examples in one transaction, rated and audited', async () => {
    expect(await t.app.examples.bulk(ids.slice(0, 5), { action: 'set_type', exampleType: 'negative' }, keyActor)).toMatchObject({ action: 'set_type', affected: 5 });
    expect(await t.app.examples.bulk(ids.slice(0, 8), { action: 'set_reward', rewardScore: 0.33 }, keyActor)).toMatchObject({ affected: 8 });
    const page = await t.app.examples.list('bulk', { limit: 100 });
    const byId = new Map(page.items.map((e) => [e.id, e]));
    expect(ids.slice(0, 8).every((id) => byId.get(id)!.rewardScore === 0.33)).toBe(true);
    expect(ids.slice(0, 5).every((id) => byId.get(id)!.exampleType === 'negative')).toBe(true);
    expect((await t.app.examples.history(ids[0])).map((h) => h.newReward)).toEqual([(100 % 10) / 10, 0.33]);
    const agent = await t.app.agents.get('bulk');
    const audit = (await listAudit(t.app.db, { agentId: agent.id, limit: 10 })).filter((a) => a.action.startsWith('example.bulk_'));
    expect(audit.map((a) => [a.action, a.details.count, a.actorName])).toEqual([
      ['example.bulk_set_reward', 8, 'alice-laptop'],
      ['example.bulk_set_type', 5, 'alice-laptop'],
    ]);
  });

  it('changes nothing when an id is unknown, and refuses too many ids', async () => {
    const before = await snapshot(t.app);
    const unknown = '00000000-0000-4000-8000-000000000000';
    await expect(t.app.examples.bulk([ids[9], unknown], { action: 'set_reward', rewardScore: 0.1 }, ACTOR)).rejects.toThrow(NotFoundError);
    await expect(t.app.examples.bulk([ids[9], unknown], { action: 'delete' }, ACTOR)).rejects.toThrow(NotFoundError);
    const many = Array.from({ length: 1001 }, () => ids[0]);
    await expect(t.app.examples.bulk(many, { action: 'delete' }, ACTOR)).rejects.toThrow(/ids: at most 1000/);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('deletes many', async () => {
    expect(await t.app.examples.bulk(ids.slice(10), { action: 'delete' }, ACTOR)).toMatchObject({ action: 'delete', affected: 2 });
    expect((await t.app.examples.list('bulk')).total).toBe(10);
  });
});

describe('agent stats', () => {
  it('counts by type, week and source, histograms rewards, and tracks examples never used', async () => {
    await t.app.agents.create({ name: 'stats' }, ACTOR);
    await withSource('import', () => t.app.examples.addMany('stats', Array.from({ length: 20 }, (_, i) => ex(200 + i)), ACTOR));
    await withSource('mcp', () => t.app.examples.add('stats', ex(300, { rewardScore: 1 }), ACTOR));
    const s = await agentStats(t.app.db, t.app.agents, 'stats', { weeks: 4, buckets: 10 });
    expect(s).toMatchObject({ agent: 'stats', total: 21, byType: { positive: 13, negative: 8 } });
    expect(s.rewardHistogram).toHaveLength(10);
    expect(s.rewardHistogram.reduce((n, b) => n + b.count, 0)).toBe(21);
    expect(s.rewardHistogram[9]).toMatchObject({ from: 0.9, to: 1, count: 3 }); // 0.9, 0.9 and 1 (the last bucket holds 1)
    expect(s.rewardHistogram[0]).toMatchObject({ from: 0, to: 0.1, count: 2 });
    expect(s.weeks).toHaveLength(4);
    const now = s.weeks[3];
    expect(now).toMatchObject({ added: 21, positive: 13, negative: 8, bySource: { import: 20, mcp: 1, ui: 0 } });
    expect(s.weeks.slice(0, 3).every((w) => w.added === 0 && w.meanReward === null)).toBe(true);
    expect(now.medianReward).toBe(s.medianReward);
    expect(s.bySource).toMatchObject({ import: 20, mcp: 1, unknown: 0 });
    expect(new Date(`${now.week}T00:00:00Z`).getUTCDay()).toBe(1); // weeks start on Monday
    expect(s.usage).toMatchObject({ neverUsed: 21, neverUsedShare: 1, searched: 0, inDatasets: 0 });
    expect(s.usage.trackedSince).toBeInstanceOf(Date);

    const found = await t.app.hybridRetrieveBestExamples({ agentId: 'stats', query: 'wb question 201', topK: 3 });
    await t.app.usage.flush();
    const listed = await t.app.examples.list('stats', { limit: 2, sort: 'worst' });
    await t.app.usage.noteDataset(listed.items.map((e) => e.id));
    const after = await agentStats(t.app.db, t.app.agents, 'stats', { weeks: 1, buckets: 4 });
    const used = new Set([...found.results.map((r) => r.id), ...listed.items.map((e) => e.id)]);
    expect(after.usage).toMatchObject({ searched: found.results.length, inDatasets: 2, neverUsed: 21 - used.size });
    expect(after.rewardHistogram.map((b) => b.to)).toEqual([0.25, 0.5, 0.75, 1]);

    await t.app.examples.update(listed.items[0].id, { rewardScore: 0.5 }, 'cli:alice');
    expect((await agentStats(t.app.db, t.app.agents, 'stats', { weeks: 1, buckets: 4 })).weeks[0].ratings).toBe(1);
  });
});
