import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, ForbiddenError, FULL_ACCESS, type Access } from '../../src/access/access.ts';
import { NotFoundError } from '../../src/errors.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation, operations } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let mineId: string;
let theirsId: string;
let theirExample: string;
beforeAll(async () => {
  t = await openTestApp();
  mineId = (await t.app.agents.create({ name: 'mine' }, ACTOR)).id;
  theirsId = (await t.app.agents.create({ name: 'theirs' }, ACTOR)).id;
  await t.app.examples.add('mine', { prompt: 'my prompt', completion: 'c', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
  theirExample = (await t.app.examples.add('theirs', { prompt: 'secret prompt', completion: 'c', rewardScore: 0.9, exampleType: 'positive' }, ACTOR)).id;
});
afterAll(() => t.close());

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const call = (access: Access, name: string, input: Record<string, unknown>): Promise<any> =>
  invoke(findOperation(name)!, input, { app: t.app, actor: `key:${access.keyId}`, access });

describe('API keys', () => {
  it('are shown once, stored hashed, scoped, and revocable', async () => {
    const created = await t.app.apiKeys.create({ name: 'reader', scopes: ['read:mine'] }, ACTOR);
    expect(created.key).toMatch(/^exm_[A-Za-z0-9_-]{43}$/);
    expect(created.scopes).toEqual(['read:mine']);
    const { rows } = await t.app.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE id = $1', [created.id]);
    expect(rows[0].key_hash).not.toContain(created.key);
    expect(JSON.stringify(await t.app.apiKeys.list())).not.toContain(created.key);
    const access = await t.app.apiKeys.authenticate(created.key);
    expect(access).toMatchObject({ keyId: created.id, admin: false });
    expect([...access.read]).toEqual([mineId]);
    await t.app.apiKeys.revoke(created.id, ACTOR);
    await expect(t.app.apiKeys.authenticate(created.key)).rejects.toThrow(AuthenticationError);
    await expect(t.app.apiKeys.authenticate('exm_nope')).rejects.toThrow(AuthenticationError);
    await expect(t.app.apiKeys.authenticate(undefined)).rejects.toThrow(/Authorization: Bearer/);
    await expect(t.app.apiKeys.create({ scopes: ['root'] }, ACTOR)).rejects.toMatchObject({ field: 'scope' });
    await expect(t.app.apiKeys.create({ scopes: ['read:ghost'] }, ACTOR)).rejects.toThrow(NotFoundError);
  });
});

/** Fields some operations need beyond the shared sample input. */
const PER_OP: Record<string, Record<string, unknown>> = {
  diff_prompts: { from: 1, to: 2 },
  promote_prompt: { from: 'candidate', to: 'production' },
  build_dataset: { format: 'trl-kto' },
  create_run: { format: 'trl-kto', backend: 'external', baseModel: 'base-model' },
  judge_result: { exampleId: '00000000-0000-4000-8000-000000000000', grade: 1 },
  run_evaluation: { version: 'production' },
  get_evaluation: { run: '00000000-0000-4000-8000-000000000000' },
  compare_evaluations: { a: '1', b: '2' },
};

describe('a key scoped to one agent', () => {
  let reader: Access;
  let writer: Access;
  beforeAll(async () => {
    reader = await t.app.apiKeys.authenticate((await t.app.apiKeys.create({ scopes: ['read:mine'] }, ACTOR)).key);
    writer = await t.app.apiKeys.authenticate((await t.app.apiKeys.create({ scopes: ['write:mine'] }, ACTOR)).key);
  });

  it('hears of similar agents it can see when it names one that is not found, and of no others', async () => {
    await expect(call(FULL_ACCESS, 'get_agent', { agent: 'mien' })).rejects.toThrow(/^agent not found: mien \(did you mean mine\?\)$/);
    await expect(call(FULL_ACCESS, 'search_examples', { agent: 'THEIRS2', query: 'q' })).rejects.toThrow('agent not found: THEIRS2 (did you mean theirs?)');
    await expect(call(reader, 'get_agent', { agent: 'mien' })).rejects.toThrow('agent not found: mien (did you mean mine?)');
    // "theirs" exists, but this key cannot see it: not named, not hinted at.
    await expect(call(reader, 'get_agent', { agent: 'theirs2' })).rejects.toThrow(/^agent not found: theirs2$/);
  });

  it('sees only its agent in lists', async () => {
    expect((await call(reader, 'list_agents', {})).items.map((a: { name: string }) => a.name)).toEqual(['mine']);
    expect((await call(reader, 'index_status', {})).items.map((a: { agentName: string }) => a.agentName)).toEqual(['mine']);
    expect((await call(FULL_ACCESS, 'list_agents', {})).items).toHaveLength(2);
  });

  it('gets "not found" for the other agent through every tool that names an agent', async () => {
    for (const op of operations.filter((o) => o.access && typeof o.access === 'object' && 'agent' in o.access)) {
      const input: Record<string, unknown> = { agent: 'theirs', query: 'q', prompt: 'p', completion: 'c', rewardScore: 0.5, exampleType: 'positive', examples: [{ prompt: 'p', completion: 'c', rewardScore: 0.5, exampleType: 'positive' }], data: '', persistDir: '/tmp/x', content: 'x', ...PER_OP[op.name] };
      const err = await call(reader, op.name, input).catch((e) => e);
      expect(err, op.name).toBeInstanceOf(NotFoundError);
      expect(err.message, op.name).toBe('agent not found: theirs');
    }
    await expect(call(reader, 'get_example', { id: theirExample })).rejects.toThrow(NotFoundError);
    await expect(call(writer, 'delete_examples', { ids: [theirExample] })).rejects.toThrow(NotFoundError);
  });

  it('reads with read access, writes only with write access, and never administers', async () => {
    expect((await call(reader, 'search_examples', { agent: 'mine', query: 'my prompt' })).results).toHaveLength(1);
    await expect(call(reader, 'add_example', { agent: 'mine', prompt: 'x', completion: 'y', rewardScore: 0.5, exampleType: 'positive' })).rejects.toThrow(ForbiddenError);
    expect(await call(writer, 'add_example', { agent: 'mine', prompt: 'x', completion: 'y', rewardScore: 0.5, exampleType: 'positive' })).toMatchObject({ prompt: 'x' });
    await expect(call(writer, 'create_agent', { name: 'new' })).rejects.toThrow(ForbiddenError);
    await expect(call(writer, 'delete_agent', { agent: 'mine' })).rejects.toThrow(ForbiddenError);
    await expect(call(writer, 'load_demo', {})).rejects.toThrow(ForbiddenError);
  });
});
