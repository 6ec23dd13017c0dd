import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

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
