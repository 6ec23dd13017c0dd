import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderRecord, renderTable } from '../../src/cli/table.ts';
import { IndexService } from '../../src/indexing/index-service.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

// Issue 12, items 5, 7 and 10: no spread of an unbounded array into a call, and an index status
// that does not claim lag 0 while the index on disk is behind the table.

let t: TestEnv;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-unbounded-'));
beforeAll(async () => {
  t = await openTestApp({ dataDir });
});
afterAll(async () => {
  await t.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const ex = (prompt: string) => ({ prompt, completion: 'c', rewardScore: 0.8, exampleType: 'positive' as const, metadata: {} });
const fresh = () => new IndexService(t.app.db, t.app.agents, t.app.config.embedding, t.app.config.dataDir);
const statusOf = async (index: IndexService, name: string) => (await index.status()).find((s) => s.agentName === name)!;

describe('no unbounded spreads', () => {
  it('catches up over a 200,000-row feed (Math.max(0, ...feed) overflowed the stack)', async () => {
    const agent = await t.app.agents.create({ name: 'big-feed' }, ACTOR);
    await t.app.examples.addMany('big-feed', [ex('one'), ex('two')], ACTOR);
    const index = fresh();
    expect(await index.sync('big-feed')).toMatchObject({ rebuilt: true, count: 2 });
    // Change records of examples that no longer exist, as a large import followed by a delete leaves them.
    await t.app.db.query(
      `INSERT INTO index_outbox (agent_id, example_id, op) SELECT $1, gen_random_uuid(), 'delete' FROM generate_series(1, 200000)`,
      [agent.id],
    );
    const result = await index.sync('big-feed');
    expect(result).toMatchObject({ rebuilt: false, count: 2 });
    expect(index.store.readManifest(agent.id)!.watermark).toBeGreaterThanOrEqual(200_000);
    // Read, not taken: the feed keeps the rows for other processes until pruning.
    const { rows } = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox WHERE agent_id = $1', [agent.id]);
    expect(rows[0].n).toBeGreaterThanOrEqual(200_000);
  });

  it('renders a 200,000-row table and a record', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => ({ id: String(i), name: `row ${i}` }));
    const text = renderTable(rows, ['id', 'name'], 80);
    expect(text.split('\n')).toHaveLength(200_002);
    expect(renderRecord({ a: 1, longer: 2 })).toBe('a       1\nlonger  2');
  });
});

describe('index status after a kill -9', () => {
  it('reports the changes a dead process applied in memory but never saved, until the index is loaded again', async () => {
    await t.app.agents.create({ name: 'crashy' }, ACTOR);
    await t.app.examples.addMany('crashy', [ex('a1'), ex('a2'), ex('a3')], ACTOR);
    const first = fresh();
    await first.sync('crashy'); // saved: 3 examples, outbox empty
    expect(await statusOf(fresh(), 'crashy')).toMatchObject({ count: 3, examples: 3, lagChanges: 0 });

    // The first process takes in two inserts and an update and dies before its next save, which
    // comes at most every 30 s.
    await t.app.examples.addMany('crashy', [ex('b1'), ex('b2')], ACTOR);
    await t.app.db.query(`UPDATE training_examples SET reward_score = 0.1 WHERE prompt = 'a1'`);
    expect(await first.catchUp()).toBe(3);

    // The next process has only the file, which holds 3 of 5 examples and an old reward.
    const after = fresh();
    const status = await statusOf(after, 'crashy');
    expect(status).toMatchObject({ count: 3, examples: 5, lagChanges: 3 });
    expect(status.lagSeconds).toBeGreaterThan(0);

    // Loading it (what the first search does) reconciles it with the table.
    await after.table('crashy');
    expect(await statusOf(after, 'crashy')).toMatchObject({ count: 5, examples: 5, lagChanges: 0 });
    await after.sync('crashy');
    expect(await statusOf(fresh(), 'crashy')).toMatchObject({ count: 5, examples: 5, lagChanges: 0 });
  });

  it('counts deletions the dead process applied', async () => {
    await t.app.agents.create({ name: 'crashy-delete' }, ACTOR);
    await t.app.examples.addMany('crashy-delete', [ex('d1'), ex('d2'), ex('d3')], ACTOR);
    const first = fresh();
    await first.sync('crashy-delete');
    await t.app.db.query(`DELETE FROM training_examples WHERE prompt IN ('d1', 'd2')`);
    await first.catchUp();
    expect(await statusOf(fresh(), 'crashy-delete')).toMatchObject({ count: 3, examples: 1, lagChanges: 2 });
  });
});
