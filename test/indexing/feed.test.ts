import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IndexService } from '../../src/indexing/index-service.ts';
import { SyncWorker } from '../../src/indexing/sync-worker.ts';
import { ACTOR, openTestApp, TEST_DB, TEST_DATABASE_URL, type TestEnv } from '../support/app.ts';

// Issue 13, item 1: index_outbox is a feed every process reads from its own position.

let t: TestEnv;
const dirs: string[] = [];
beforeAll(async () => {
  t = await openTestApp({ vectorBackend: 'memory' });
});
afterAll(async () => {
  await t.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const ex = (prompt: string, rewardScore = 0.8) => ({ prompt, completion: 'c', rewardScore, exampleType: 'positive' as const, metadata: {} });
/** Another process's index: its own memory and its own index folder, on the same database. */
function replica(feed = { retentionMs: 3_600_000, consumerTimeoutMs: 60_000 }): IndexService {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-feed-'));
  dirs.push(dir);
  return new IndexService(t.app.db, t.app.agents, t.app.config.embedding, dir, feed);
}
const outboxRows = async (agentId: string) =>
  (await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox WHERE agent_id = $1', [agentId])).rows[0].n;
const rewardIn = async (index: IndexService, agentId: string, exampleId: string) => {
  const { table } = await index.table(agentId);
  const row = table.rowOf(exampleId);
  return row === undefined ? undefined : table.reward(row);
};

describe('a feed every process reads', () => {
  it('gives every change to every process: an insert, a reward update and a delete reach both', async () => {
    const agent = await t.app.agents.create({ name: 'feed-both' }, ACTOR);
    await t.app.examples.add('feed-both', ex('seed'), ACTOR);
    const a = replica();
    const b = replica();
    await a.table(agent.id);
    await b.table(agent.id);
    const added = await t.app.examples.add('feed-both', ex('new one'), ACTOR);
    await t.app.db.query('UPDATE training_examples SET reward_score = 0.25 WHERE id = $1', [added.id]);
    // A reads first. Before issue 13 it deleted the rows, and B never saw them.
    expect(await a.catchUp()).toBeGreaterThan(0);
    expect(await b.catchUp()).toBeGreaterThan(0);
    for (const index of [a, b]) expect(await rewardIn(index, agent.id, added.id)).toBe(0.25);
    await t.app.db.query('DELETE FROM training_examples WHERE id = $1', [added.id]);
    await b.catchUp();
    await a.catchUp();
    for (const index of [a, b]) expect(await rewardIn(index, agent.id, added.id)).toBeUndefined();
    expect(await outboxRows(agent.id)).toBe(4);
    // Read again from where each stands: nothing new, nothing applied twice.
    expect(await a.catchUp()).toBe(0);
  });

  it.runIf(TEST_DB === 'postgres')('does not skip a change whose transaction took its id first but committed last', async () => {
    const agent = await t.app.agents.create({ name: 'feed-interleave' }, ACTOR);
    await t.app.examples.add('feed-interleave', ex('seed'), ACTOR);
    const reader = replica();
    await reader.table(agent.id);
    const slow = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${t.env.EXEMPLAR_DB_SCHEMA},public` });
    await slow.connect();
    try {
      const insert = `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, $2, 'c', 0.9, 'positive') RETURNING id`;
      await slow.query('BEGIN');
      const early = (await slow.query<{ id: string }>(insert, [agent.id, 'slow transaction'])).rows[0].id;
      const late = (await t.app.db.query<{ id: string }>(insert, [agent.id, 'quick transaction'])).rows[0].id;
      // The quick one's outbox row has the higher id and is visible first.
      const ids = await t.app.db.query<{ id: number }>('SELECT id FROM index_outbox WHERE example_id = $1', [late]);
      expect(await reader.catchUp()).toBe(1);
      expect(await rewardIn(reader, agent.id, late)).toBeCloseTo(0.9);
      await slow.query('COMMIT');
      const earlyIds = await t.app.db.query<{ id: number }>('SELECT id FROM index_outbox WHERE example_id = $1', [early]);
      // The interleaving that skipped with an id watermark: the early row's id is below one already read.
      expect(earlyIds.rows[0].id).toBeLessThan(ids.rows[0].id);
      expect(await reader.catchUp()).toBe(1);
      expect(await rewardIn(reader, agent.id, early)).toBeCloseTo(0.9);
    } finally {
      await slow.end();
    }
  });

  it('a one-off process takes nothing away and does not register', async () => {
    const agent = await t.app.agents.create({ name: 'feed-oneoff' }, ACTOR);
    await t.app.examples.addMany('feed-oneoff', [ex('one'), ex('two')], ACTOR);
    const server = replica();
    await server.table(agent.id);
    await t.app.examples.add('feed-oneoff', ex('three'), ACTOR);
    const before = await outboxRows(agent.id);
    // What `exemplar search` does in a process of its own: load (reconcile), search, save, exit.
    const oneOff = replica();
    await oneOff.sync('feed-oneoff');
    await oneOff.saveAll();
    expect(await outboxRows(agent.id)).toBe(before);
    expect((await t.app.db.query('SELECT 1 FROM index_consumers')).rows).toHaveLength(0);
    expect(await server.catchUp()).toBe(1);
    expect((await server.table(agent.id)).table.size).toBe(3);
  });

  it.runIf(TEST_DB === 'postgres')('the CLI, as a child process on the shared database, leaves the feed as it was', async () => {
    const agent = await t.app.agents.create({ name: 'feed-cli' }, ACTOR);
    await t.app.examples.addMany('feed-cli', [ex('cli one'), ex('cli two')], ACTOR);
    const before = await outboxRows(agent.id);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-feed-cli-'));
    dirs.push(dir);
    const r = spawnSync(process.execPath, [path.resolve('bin/exemplar.js'), 'search', '--agent', 'feed-cli', 'cli one', '--json'], {
      env: { ...process.env, ...t.env, EXEMPLAR_DATA_DIR: dir, EXEMPLAR_VECTOR_BACKEND: 'memory' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results.map((x: { input: string }) => x.input), r.stdout).toContain('cli one');
    expect(await outboxRows(agent.id)).toBe(before);
    expect((await t.app.db.query('SELECT 1 FROM index_consumers')).rows).toHaveLength(0);
  });
});

describe('consumers and pruning', () => {
  it('registers a worker with a heartbeat, shows each live consumer\'s lag, and unregisters on stop', async () => {
    const agent = await t.app.agents.create({ name: 'feed-status' }, ACTOR);
    await t.app.examples.add('feed-status', ex('seed'), ACTOR);
    const serving = replica();
    await serving.table(agent.id);
    const worker = new SyncWorker(t.app.db, serving, { pollMs: 60_000, role: 'serve' });
    await worker.start();
    const lagged = replica();
    await lagged.table(agent.id);
    const stuck = new SyncWorker(t.app.db, lagged, { pollMs: 60_000, role: 'stuck' });
    await stuck.start();
    try {
      const consumers = await t.app.db.query<{ role: string; pid: number }>('SELECT role, pid FROM index_consumers ORDER BY role');
      expect(consumers.rows).toEqual([{ role: 'serve', pid: process.pid }, { role: 'stuck', pid: process.pid }]);
      await stuck.stop(); // from here on it is a dead process that never unregistered:
      await t.app.db.query(`INSERT INTO index_consumers (id, host, pid, role, position, applied) SELECT 'dead', host, pid, 'stuck', position, applied FROM index_consumers WHERE role = 'serve'`);

      await t.app.examples.addMany('feed-status', [ex('a'), ex('b')], ACTOR);
      await expect.poll(async () => (await serving.table(agent.id)).table.size, { timeout: 5000 }).toBe(3);
      await worker.idle();
      // The serving worker is up to date; the dead one is behind, and the worst lag shows it.
      const status = (await serving.status()).find((s) => s.agentName === 'feed-status')!;
      expect(status.processLagChanges).toBe(0);
      const self = status.consumers!.find((c) => c.self)!;
      expect(self).toMatchObject({ role: 'serve', lagChanges: 0 });
      expect(status.consumers!.find((c) => c.id === 'dead')).toMatchObject({ lagChanges: 2 });
      expect(status.lagChanges).toBe(2);
      expect(status.lagSeconds).toBeGreaterThan(0);
      // Until it is not live any more: then only the live ones count.
      await t.app.db.query(`UPDATE index_consumers SET heartbeat_at = now() - interval '2 minutes' WHERE id = 'dead'`);
      expect((await serving.status()).find((s) => s.agentName === 'feed-status')).toMatchObject({ lagChanges: 0 });
      await worker.stop();
      expect((await t.app.db.query(`SELECT id FROM index_consumers WHERE id <> 'dead'`)).rows).toHaveLength(0);
    } finally {
      await worker.stop();
      await stuck.stop();
      await t.app.db.query(`DELETE FROM index_consumers`);
    }
  });

  it('prunes what every live consumer has passed, keeps what one still needs, and prunes by age past retention', async () => {
    const agent = await t.app.agents.create({ name: 'feed-prune' }, ACTOR);
    await t.app.examples.add('feed-prune', ex('seed'), ACTOR);
    const ahead = replica();
    const behind = replica();
    await ahead.table(agent.id);
    await behind.table(agent.id);
    const a = await ahead.joinFeed('ahead');
    const b = await behind.joinFeed('behind');
    try {
      await t.app.examples.addMany('feed-prune', [ex('p1'), ex('p2')], ACTOR);
      await ahead.catchUp();
      await a.beat();
      await b.beat();
      await a.prune();
      expect(await outboxRows(agent.id)).toBeGreaterThanOrEqual(2); // `behind` has not read them

      await behind.catchUp();
      await b.beat();
      await t.app.examples.add('feed-prune', ex('p3'), ACTOR); // nobody has read this one
      // Both have passed p1 and p2 now. Their recorded positions also wait for any transaction open
      // anywhere on the server (a test next door, an autovacuum ANALYZE), so put them just past p2.
      await t.app.db.query(
        `UPDATE index_consumers SET position = (SELECT max(o.txid) FROM index_outbox o JOIN training_examples e ON e.id = o.example_id WHERE e.prompt = 'p3')`,
      );
      expect(await b.prune()).toBeGreaterThanOrEqual(2);
      const left = await t.app.db.query<{ exampleId: string }>('SELECT example_id::text AS "exampleId" FROM index_outbox WHERE agent_id = $1', [agent.id]);
      const p3 = await t.app.db.query<{ id: string }>(`SELECT id::text FROM training_examples WHERE prompt = 'p3'`);
      expect(left.rows.map((r) => r.exampleId)).toEqual([p3.rows[0].id]);

      // Past retention a row goes even though a live consumer still needs it...
      await t.app.db.query(`UPDATE index_outbox SET queued_at = now() - interval '2 hours' WHERE agent_id = $1`, [agent.id]);
      expect(await a.prune()).toBe(1);
      expect(await outboxRows(agent.id)).toBe(0);
      // ...and that consumer notices and reconciles with the table instead of missing the change.
      expect((await behind.table(agent.id)).table.size).toBe(3);
      await behind.catchUp();
      expect((await behind.table(agent.id)).table.size).toBe(4);
    } finally {
      await a.leave();
      await b.leave();
    }
  });

  it('marks pruned rows per agent: only the agent whose rows were pruned reconciles with the table', async () => {
    const pruned = await t.app.agents.create({ name: 'feed-mark-pruned' }, ACTOR);
    const untouched = await t.app.agents.create({ name: 'feed-mark-untouched' }, ACTOR);
    await t.app.examples.add('feed-mark-pruned', ex('seed'), ACTOR);
    await t.app.examples.add('feed-mark-untouched', ex('seed'), ACTOR);
    const away = replica();
    await away.table(pruned.id);
    await away.table(untouched.id);
    const m = await away.joinFeed('away');
    try {
      // While `away` is frozen, the first agent gets changes that are pruned past retention.
      await t.app.examples.addMany('feed-mark-pruned', [ex('lost 1'), ex('lost 2')], ACTOR);
      await t.app.db.query(`UPDATE index_outbox SET queued_at = now() - interval '2 hours' WHERE agent_id = $1`, [pruned.id]);
      // (The seed rows may go too, once `away` has passed them: a mark below an index's position asks nothing of it.)
      expect(await m.prune()).toBeGreaterThanOrEqual(2);

      const reconcile = vi.spyOn(away as unknown as { reconcile: (index: { agentId: string }) => Promise<unknown> }, 'reconcile');
      await away.catchUp();
      // The pruned agent compares with the table and finds its changes; the other is not compared
      // (with one global mark it was: every index below the mark paid a full comparison).
      expect(reconcile.mock.calls.map(([index]) => index.agentId)).toEqual([pruned.id]);
      expect((await away.table(pruned.id)).table.size).toBe(3);
      reconcile.mockRestore();
    } finally {
      await m.leave();
    }
  });

  it.runIf(TEST_DB === 'postgres')('prunes once per tick across replicas: the advisory lock lets one through', async () => {
    const index = replica();
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL, options: `-c search_path=${t.env.EXEMPLAR_DB_SCHEMA},public` });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      const got = await holder.query<{ got: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.exemplar_feed_prune')) AS got`);
      expect(got.rows[0].got).toBe(true);
      expect(await index.feed.prune()).toBeUndefined();
      await holder.query('COMMIT');
      expect(await index.feed.prune()).toEqual(expect.any(Number));
    } finally {
      await holder.end();
    }
  });
});
