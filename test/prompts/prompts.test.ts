import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../src/errors.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp();
  const a = await t.app.agents.create({ name: 'prompted' }, ACTOR);
  await t.app.db.query(
    `INSERT INTO prompt_versions (agent_id, version, content, source, model) VALUES ($1, 1, 'You are helpful.', 'manual', NULL), ($1, 2, 'You are terse.', 'optimized', 'claude')`,
    [a.id],
  );
  await t.app.db.query(`INSERT INTO prompt_labels (agent_id, label, version) VALUES ($1, 'production', 1), ($1, 'candidate', 2)`, [a.id]);
  await t.app.agents.create({ name: 'unprompted' }, ACTOR);
});
afterAll(() => t.close());

describe('prompt versions (read side)', () => {
  it('gets the production version by default, another label, or a number', async () => {
    expect(await t.app.prompts.get('prompted')).toMatchObject({ version: 1, content: 'You are helpful.', labels: ['production'], source: 'manual' });
    expect(await t.app.prompts.get('prompted', { label: 'candidate' })).toMatchObject({ version: 2, model: 'claude', labels: ['candidate'] });
    expect(await t.app.prompts.get('prompted', { version: 2 })).toMatchObject({ content: 'You are terse.' });
  });

  it('lists history newest first, and says clearly when there is nothing', async () => {
    expect((await t.app.prompts.history('prompted')).map((v) => v.version)).toEqual([2, 1]);
    expect(await t.app.prompts.history('unprompted')).toEqual([]);
    await expect(t.app.prompts.get('unprompted')).rejects.toThrow(NotFoundError);
    await expect(t.app.prompts.get('unprompted')).rejects.toThrow(/no prompt labelled production/);
    await expect(t.app.prompts.get('prompted', { version: 9 })).rejects.toThrow(/version 9/);
  });
});

describe('prompt versions (write side)', () => {
  it('numbers concurrent writers strictly in sequence, losing none', async () => {
    await t.app.agents.create({ name: 'busy' }, ACTOR);
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => t.app.prompts.create('busy', { content: `v from writer ${i}`, source: 'manual' }, ACTOR)));
    expect(made.map((v) => v.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const contents = (await t.app.prompts.history('busy')).map((v) => v.content).sort();
    expect(contents).toEqual(Array.from({ length: 20 }, (_, i) => `v from writer ${i}`).sort());
  });

  it('refuses a write based on a stale version, with a clear conflict, and changes nothing', async () => {
    await t.app.agents.create({ name: 'stale-writer' }, ACTOR);
    await t.app.prompts.create('stale-writer', { content: 'one', source: 'manual', expectedLatest: null }, ACTOR);
    await t.app.prompts.create('stale-writer', { content: 'two', source: 'manual', expectedLatest: 1 }, ACTOR);
    const before = await snapshot(t.app);
    const err = await t.app.prompts.create('stale-writer', { content: 'three', source: 'manual', expectedLatest: 1 }, ACTOR).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain('you expected version 1 to be the newest, but it is version 2');
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('promotes the candidate, refuses a stale promote, rolls back as a new version, and diffs', async () => {
    await t.app.agents.create({ name: 'flow' }, ACTOR);
    await t.app.prompts.create('flow', { content: 'You are helpful.', source: 'manual', label: 'production' }, ACTOR);
    await t.app.prompts.create('flow', { content: 'You are helpful and terse.', source: 'optimized', model: 'm', label: 'candidate' }, ACTOR);
    // A promoted candidate is no longer the candidate.
    expect(await t.app.prompts.promote('flow', ACTOR, { expected: 1 })).toMatchObject({ version: 2, labels: ['production'] });
    expect((await t.app.prompts.history('flow')).find((v) => v.version === 2)?.labels).toEqual(['production']);
    await expect(t.app.prompts.promote('flow', ACTOR, { expected: 1 })).rejects.toThrow(ConflictError);
    await expect(t.app.prompts.promote('flow', ACTOR)).rejects.toThrow(/has no prompt labelled candidate/);
    // Production rolled back from a version still labelled candidate (set by hand): the label goes too.
    await t.app.prompts.setLabel('flow', 'candidate', 2, ACTOR);
    const rolled = await t.app.prompts.rollback('flow', ACTOR);
    expect(rolled).toMatchObject({ version: 3, source: 'rollback', basedOnVersion: 1, content: 'You are helpful.', labels: ['production'] });
    expect((await t.app.prompts.history('flow')).flatMap((v) => v.labels)).toEqual(['production']);
    expect((await t.app.prompts.get('flow')).version).toBe(3);
    const d = await t.app.prompts.diff('flow', 1, 2);
    expect(d.unified).toContain('-You are helpful.');
    expect(d.unified).toContain('+You are helpful and terse.');
    expect(d.words.filter((w) => w.added).map((w) => w.value).join('')).toContain('and terse');
    await expect(t.app.prompts.create('flow', { content: '  ', source: 'manual' }, ACTOR)).rejects.toMatchObject({ field: 'content' });
    await expect(t.app.prompts.create('flow', { content: 'x', source: 'manual', label: 'Bad Label' }, ACTOR)).rejects.toMatchObject({ field: 'label' });
  });
});
