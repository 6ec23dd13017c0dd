import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, TextTooLargeError, ValidationError } from '../../src/errors.ts';
import type { NewExample } from '../../src/examples/example.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

let t: TestEnv;
const LIMIT = 1000; // a small EXEMPLAR_MAX_TEXT_BYTES, to test the size check cheaply
beforeAll(async () => {
  t = await openTestApp({ maxTextBytes: LIMIT });
  await t.app.agents.create({ name: 'coder' }, ACTOR);
  await t.app.agents.create({ name: 'other' }, ACTOR);
});
afterAll(() => t.close());

const ex = (i: number, extra: Partial<NewExample> = {}): NewExample => ({
  prompt: `question ${i}`,
  completion: `answer ${i}`,
  rewardScore: (i % 10) / 10,
  exampleType: i % 3 === 0 ? 'negative' : 'positive',
  metadata: { i },
  ...extra,
});

describe('examples', () => {
  it('adds one, gets it back with a content hash, updates and deletes it', async () => {
    const e = await t.app.examples.add('coder', { prompt: 'Reverse a list', completion: 'xs[::-1]', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    expect(e).toMatchObject({ prompt: 'Reverse a list', rewardScore: 0.9, exampleType: 'positive', metadata: {} });
    expect(e.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(await t.app.examples.get(e.id)).toEqual(e);

    const u = await t.app.examples.update(e.id, { rewardScore: 0.2, exampleType: 'negative', metadata: { reviewed: true } }, ACTOR);
    expect(u).toMatchObject({ prompt: 'Reverse a list', rewardScore: 0.2, exampleType: 'negative', metadata: { reviewed: true }, contentHash: e.contentHash });
    const changed = await t.app.examples.update(e.id, { completion: 'list(reversed(xs))' }, ACTOR);
    expect(changed.contentHash).not.toBe(e.contentHash);

    expect(await t.app.examples.delete([e.id], ACTOR)).toEqual({ deleted: 1 });
    await expect(t.app.examples.get(e.id)).rejects.toThrow(NotFoundError);
  });

  it('hashes content the same way for rows written by plain SQL', async () => {
    const agent = await t.app.agents.get('coder');
    await t.app.db.query(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, 'sql p', 'sql c', 0.5, 'positive')`,
      [agent.id],
    );
    const err = await t.app.examples.add('coder', { prompt: 'sql p', completion: 'sql c', rewardScore: 0.7, exampleType: 'positive' }, ACTOR).catch((x) => x);
    expect(err).toBeInstanceOf(ConflictError);
  });

  it('adds many in one transaction and skips duplicates, in the batch and in the table', async () => {
    const batch = [ex(1), ex(2), ex(1), ex(3)];
    const r = await t.app.examples.addMany('other', batch, ACTOR);
    expect(r).toMatchObject({ added: 3, duplicates: 1 });
    const again = await t.app.examples.addMany('other', [ex(2), ex(4)], ACTOR);
    expect(again).toMatchObject({ added: 1, duplicates: 1 });
  });

  it('filters by type, reward range, text and creation time', async () => {
    await t.app.agents.create({ name: 'filters' }, ACTOR);
    await t.app.examples.addMany('filters', Array.from({ length: 30 }, (_, i) => ex(i)), ACTOR);
    await t.app.examples.add('filters', { prompt: 'How to use 100% of CPU_TIME', completion: 'x', rewardScore: 1, exampleType: 'positive' }, ACTOR);
    const all = (await t.app.examples.list('filters', { limit: 1000 })).items;
    expect(all).toHaveLength(31);

    const pos = (await t.app.examples.list('filters', { exampleType: 'positive', minScore: 0.5, maxScore: 0.8, limit: 1000 })).items;
    const expected = all.filter((e) => e.exampleType === 'positive' && e.rewardScore >= 0.5 && e.rewardScore <= 0.8);
    expect(pos.map((e) => e.id).sort()).toEqual(expected.map((e) => e.id).sort());
    expect(pos.length).toBeGreaterThan(0);

    expect((await t.app.examples.list('filters', { contains: 'ANSWER 17' })).items.map((e) => e.prompt)).toEqual(['question 17']);
    // LIKE wildcards in the search text are taken literally.
    expect((await t.app.examples.list('filters', { contains: '100%' })).items).toHaveLength(1);
    expect((await t.app.examples.list('filters', { contains: 'CPU_T' })).items).toHaveLength(1);
    expect((await t.app.examples.list('filters', { contains: 'U_TX' })).items).toHaveLength(0);

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await t.app.examples.list('filters', { createdAfter: future })).items).toHaveLength(0);
    expect((await t.app.examples.list('filters', { createdBefore: future, limit: 1000 })).items).toHaveLength(31);
    expect(await t.app.examples.count('filters', { exampleType: 'negative' })).toBe(all.filter((e) => e.exampleType === 'negative').length);
  });

  it('pages with a stable cursor: every row once, even when rows are added while paging', async () => {
    await t.app.agents.create({ name: 'pages' }, ACTOR);
    await t.app.examples.addMany('pages', Array.from({ length: 25 }, (_, i) => ex(i)), ACTOR);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await t.app.examples.list('pages', { limit: 7, cursor });
      seen.push(...page.items.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
      if (pages++ === 1) await t.app.examples.add('pages', ex(100), ACTOR); // newer rows land before the cursor
    } while (cursor);
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(25);
    expect(seen).toHaveLength(25);
    await expect(t.app.examples.list('pages', { cursor: 'garbage' })).rejects.toMatchObject({ field: 'cursor' });
  });
});

describe('bad input changes nothing', () => {
  const base = { prompt: 'p', completion: 'c', rewardScore: 0.5, exampleType: 'positive' };
  const cases: [string, Record<string, unknown>, string][] = [
    ['a reward_score above 1', { ...base, rewardScore: 1.01 }, 'rewardScore'],
    ['a reward_score below 0', { ...base, rewardScore: -0.1 }, 'rewardScore'],
    ['a NaN reward_score', { ...base, rewardScore: Number.NaN }, 'rewardScore'],
    ['a string reward_score', { ...base, rewardScore: '0.5' }, 'rewardScore'],
    ['an unknown example_type', { ...base, exampleType: 'neutral' }, 'exampleType'],
    ['an empty prompt', { ...base, prompt: '' }, 'prompt'],
    ['a blank prompt', { ...base, prompt: '  \n ' }, 'prompt'],
    ['metadata that is not an object', { ...base, metadata: [1, 2] }, 'metadata'],
  ];
  for (const [name, input, field] of cases) {
    it(`rejects ${name}, naming ${field}`, async () => {
      const before = await snapshot(t.app);
      const err = await t.app.examples.add('coder', input, ACTOR).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.field).toBe(field);
      expect(err.message).toContain(field);
      expect(await snapshot(t.app)).toEqual(before);
    });
  }

  it('rejects a completion over the size limit (in bytes, not characters)', async () => {
    const before = await snapshot(t.app);
    const big = 'é'.repeat(LIMIT / 2 + 1); // 2 bytes each: over the limit in bytes, under it in characters
    const err = await t.app.examples.add('coder', { ...base, completion: big }, ACTOR).catch((e) => e);
    expect(err).toBeInstanceOf(TextTooLargeError);
    expect(err.message).toContain(`over the limit of ${LIMIT} bytes`);
    const many = await t.app.examples.addMany('coder', [ex(1000), { ...ex(1001), completion: big }], ACTOR).catch((e) => e);
    expect(many).toBeInstanceOf(TextTooLargeError);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('defaults the size limit to 1 MB', async () => {
    const { loadConfig } = await import('../../src/config/config.ts');
    expect(loadConfig({}).maxTextBytes).toBe(1024 * 1024);
    expect(loadConfig({ EXEMPLAR_MAX_TEXT_BYTES: '2048' }).maxTextBytes).toBe(2048);
    expect(() => loadConfig({ EXEMPLAR_MAX_TEXT_BYTES: 'lots' })).toThrow(/EXEMPLAR_MAX_TEXT_BYTES/);
  });

  it('rejects an invalid UUID on get, update and delete', async () => {
    const before = await snapshot(t.app);
    await expect(t.app.examples.get('123')).rejects.toMatchObject({ field: 'id' });
    await expect(t.app.examples.update('123', { rewardScore: 1 }, ACTOR)).rejects.toMatchObject({ field: 'id' });
    await expect(t.app.examples.delete(['00000000-0000-4000-8000-000000000000', 'zzz'], ACTOR)).rejects.toMatchObject({ field: 'ids[1]' });
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects an unknown agent', async () => {
    const before = await snapshot(t.app);
    await expect(t.app.examples.add('ghost', base, ACTOR)).rejects.toThrow(NotFoundError);
    await expect(t.app.examples.addMany('ghost', [ex(1)], ACTOR)).rejects.toThrow(NotFoundError);
    await expect(t.app.examples.list('ghost')).rejects.toThrow(NotFoundError);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('deletes all or none: one unknown id deletes nothing', async () => {
    const e = await t.app.examples.add('coder', ex(500), ACTOR);
    const before = await snapshot(t.app);
    await expect(t.app.examples.delete([e.id, '00000000-0000-4000-8000-000000000000'], ACTOR)).rejects.toThrow(NotFoundError);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects an update that would duplicate another example', async () => {
    const a = await t.app.examples.add('coder', ex(600), ACTOR);
    await t.app.examples.add('coder', ex(601), ACTOR);
    const before = await snapshot(t.app);
    await expect(t.app.examples.update(a.id, { prompt: 'question 601', completion: 'answer 601' }, ACTOR)).rejects.toThrow(ConflictError);
    expect(await snapshot(t.app)).toEqual(before);
  });
});

describe('sorting', () => {
  it('pages by reward (best or worst first) and by age, each row once, in order', async () => {
    await t.app.agents.create({ name: 'sorted' }, ACTOR);
    await t.app.examples.addMany('sorted', Array.from({ length: 23 }, (_, i) => ({ ...ex(i), rewardScore: (i * 7) % 10 / 10 })), ACTOR);
    for (const sort of ['newest', 'oldest', 'best', 'worst'] as const) {
      const seen: { id: string; rewardScore: number }[] = [];
      let cursor: string | undefined;
      do {
        const page = await t.app.examples.list('sorted', { sort, limit: 5, cursor });
        seen.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(new Set(seen.map((e) => e.id)).size, sort).toBe(23);
      const rewards = seen.map((e) => e.rewardScore);
      if (sort === 'best') expect(rewards).toEqual([...rewards].sort((a, b) => b - a));
      if (sort === 'worst') expect(rewards).toEqual([...rewards].sort((a, b) => a - b));
    }
    const first = await t.app.examples.list('sorted', { sort: 'best', limit: 5 });
    await expect(t.app.examples.list('sorted', { sort: 'newest', cursor: first.nextCursor! })).rejects.toThrow(/belongs to sort "best"/);
  });
});
