import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp();
});
afterAll(() => t.close());

describe('migrations', () => {
  it('are recorded, and applying them again does nothing', async () => {
    const { rows } = await t.app.db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
    expect(await migrate(t.app.db)).toEqual([]);
    expect(await migrate(t.app.db)).toEqual([]);
  });

  it('refuse to run when an applied migration was edited', async () => {
    const edited = loadMigrations().map((m, i) => (i === 0 ? { ...m, checksum: 'changed' } : m));
    await expect(migrate(t.app.db, edited)).rejects.toThrow(/was edited after it was applied/);
  });

  it("create every table of the design, with the seed's two indexes", async () => {
    const { rows } = await t.app.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1`,
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['agents', 'prompt_versions', 'training_examples', 'fine_tuning_runs', 'run_examples', 'audit_log', 'index_outbox', 'embedding_cache']),
    );
    const idx = await t.app.db.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'training_examples' AND schemaname = current_schema()`,
    );
    const defs = idx.rows.map((r) => r.indexdef).join('\n');
    expect(defs).toContain('(agent_id, reward_score DESC)');
    expect(defs).toContain('(example_type)');
  });

  it('keep prompt versions immutable', async () => {
    const a = await t.app.agents.create({ name: 'immutable' }, ACTOR);
    await t.app.db.query(`INSERT INTO prompt_versions (agent_id, version, content, source) VALUES ($1, 1, 'v1', 'manual')`, [a.id]);
    await expect(t.app.db.query(`UPDATE prompt_versions SET content = 'x' WHERE agent_id = $1`, [a.id])).rejects.toThrow(/immutable/);
  });
});

describe('index outbox', () => {
  it('records every insert, update and delete, from any client, and notifies listeners', async () => {
    const a = await t.app.agents.create({ name: 'feed' }, ACTOR);
    const b = await t.app.agents.create({ name: 'feed-b' }, ACTOR);
    const payloads: string[] = [];
    const stop = await t.app.db.listen('exemplar_index', (p) => payloads.push(p));
    const { rows } = await t.app.db.query<{ id: string }>(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type)
       VALUES ($1, 'p1', 'c1', 0.5, 'positive'), ($1, 'p2', 'c2', 0.5, 'negative') RETURNING id`,
      [a.id],
    );
    await t.app.db.query(`UPDATE training_examples SET reward_score = 0.9 WHERE id = $1`, [rows[0].id]);
    await t.app.db.query(`UPDATE training_examples SET agent_id = $2 WHERE id = $1`, [rows[1].id, b.id]);
    await t.app.db.query(`DELETE FROM training_examples WHERE id = $1`, [rows[0].id]);

    const feed = await t.app.db.query<{ agent_id: string; example_id: string; op: string }>(
      `SELECT agent_id, example_id, op FROM index_outbox WHERE agent_id IN ($1, $2) ORDER BY id`,
      [a.id, b.id],
    );
    expect(feed.rows.map((r) => [r.agent_id === a.id ? 'a' : 'b', r.example_id === rows[0].id ? 1 : 2, r.op])).toEqual([
      ['a', 1, 'upsert'],
      ['a', 2, 'upsert'],
      ['a', 1, 'upsert'],
      ['a', 2, 'delete'],
      ['b', 2, 'upsert'],
      ['a', 1, 'delete'],
    ]);
    await expect.poll(() => payloads.length, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    expect(payloads[0]).toBe(a.id);
    expect(payloads.some((p) => p.split(',').sort().join() === [a.id, b.id].sort().join())).toBe(true);
    await stop();
  });

  it('writes nothing for a statement that changes no rows', async () => {
    const before = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox');
    await t.app.db.query(`UPDATE training_examples SET reward_score = 1 WHERE false`);
    const after = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
