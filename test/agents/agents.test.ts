import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ValidationError } from '../../src/errors.ts';
import { listAudit } from '../../src/audit/audit.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(() => t.close());

describe('agents', () => {
  it('creates with default weights, gets by id and by name, lists', async () => {
    const a = await t.app.agents.create({ name: 'alpha', description: 'first' }, ACTOR);
    expect(a).toMatchObject({ name: 'alpha', description: 'first', similarityWeight: 0.6, scoreWeight: 0.4, exampleCount: 0 });
    expect(a.createdAt).toBeInstanceOf(Date);
    expect((await t.app.agents.get(a.id)).name).toBe('alpha');
    expect((await t.app.agents.get('alpha')).id).toBe(a.id);
    expect((await t.app.agents.getById(a.id)).id).toBe(a.id);
    expect((await t.app.agents.list()).map((x) => x.name)).toContain('alpha');
  });

  it('updates description and weights, leaving the rest', async () => {
    await t.app.agents.create({ name: 'beta', description: 'keep me' }, ACTOR);
    const b = await t.app.agents.update('beta', { similarityWeight: 0.9, scoreWeight: 0.1 }, ACTOR);
    expect(b).toMatchObject({ description: 'keep me', similarityWeight: 0.9, scoreWeight: 0.1 });
    expect(b.updatedAt.getTime()).toBeGreaterThanOrEqual(b.createdAt.getTime());
  });

  it('deletes an agent with its examples and keeps the audit trail', async () => {
    const c = await t.app.agents.create({ name: 'gamma' }, ACTOR);
    await t.app.examples.addMany(
      'gamma',
      [1, 2, 3].map((i) => ({ prompt: `p${i}`, completion: 'c', rewardScore: 0.5, exampleType: 'positive' as const, metadata: {} })),
      ACTOR,
    );
    const result = await t.app.agents.delete('gamma', ACTOR);
    expect(result).toEqual({ id: c.id, name: 'gamma', deletedExamples: 3 });
    const { rows } = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples WHERE agent_id = $1', [c.id]);
    expect(rows[0].n).toBe(0);
    await expect(t.app.agents.get('gamma')).rejects.toThrow(NotFoundError);
    const audit = await listAudit(t.app.db, { agentId: c.id });
    expect(audit.map((e) => e.action)).toEqual(['agent.delete', 'example.create_many', 'agent.create']);
    expect(audit.every((e) => e.actor === ACTOR)).toBe(true);
  });

  it('rejects a duplicate name with a conflict and changes nothing', async () => {
    await t.app.agents.create({ name: 'dup' }, ACTOR);
    const before = await snapshot(t.app);
    const err = await t.app.agents.create({ name: 'dup' }, ACTOR).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toContain('"dup" already exists');
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects an invalid UUID, naming the field, and changes nothing', async () => {
    const before = await snapshot(t.app);
    const err = await t.app.agents.getById('not-a-uuid').catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.field).toBe('id');
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects an unknown agent on every path and changes nothing', async () => {
    const before = await snapshot(t.app);
    await expect(t.app.agents.get('nobody')).rejects.toThrow(NotFoundError);
    await expect(t.app.agents.get('00000000-0000-4000-8000-000000000000')).rejects.toThrow(NotFoundError);
    await expect(t.app.agents.update('nobody', { description: 'x' }, ACTOR)).rejects.toThrow(NotFoundError);
    await expect(t.app.agents.delete('nobody', ACTOR)).rejects.toThrow(NotFoundError);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('rejects bad names and weights, naming the field', async () => {
    const before = await snapshot(t.app);
    await expect(t.app.agents.create({ name: 'has space' }, ACTOR)).rejects.toMatchObject({ field: 'name' });
    await expect(t.app.agents.create({ name: 'w', similarityWeight: 1.5 }, ACTOR)).rejects.toMatchObject({ field: 'similarityWeight' });
    await expect(t.app.agents.update('alpha', { scoreWeight: -1 }, ACTOR)).rejects.toMatchObject({ field: 'scoreWeight' });
    expect(await snapshot(t.app)).toEqual(before);
  });
});
