import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileVectorStore } from '../../src/vectors/file-store.ts';
import { VectorTable } from '../../src/vectors/vector-table.ts';
import { ACTOR, openTestApp, TEST_DB, type TestEnv } from '../support/app.ts';

let t: TestEnv;
beforeAll(async () => {
  t = await openTestApp({ vectorBackend: 'memory' });
});
afterAll(() => t.close());

const ex = (prompt: string, rewardScore = 0.8) => ({ prompt, completion: 'c', rewardScore, exampleType: 'positive' as const, metadata: {} });

describe('sync', () => {
  it('builds, saves, reloads and reconciles an index with changes made while it was closed', async () => {
    const agent = await t.app.agents.create({ name: 'persist' }, ACTOR);
    await t.app.examples.addMany('persist', [ex('alpha one'), ex('beta two'), ex('gamma three')], ACTOR);
    const first = await t.app.syncTrainingDataToVectorStore('persist');
    expect(first).toMatchObject({ rebuilt: true, count: 3, model: 'hashing-v2' });
    const manifest = t.app.memoryIndex.store.readManifest(agent.id)!;
    expect(manifest).toMatchObject({ format: 1, model: 'hashing-v2', dimensions: 384, count: 3 });
    expect(manifest.checksum).toMatch(/^[0-9a-f]{8}$/);

    // A second process's view: a fresh IndexService reading the same folder.
    await t.app.db.query(`DELETE FROM training_examples WHERE prompt = 'beta two'`);
    await t.app.examples.add('persist', ex('delta four'), ACTOR);
    const { IndexService } = await import('../../src/indexing/index-service.ts');
    const other = new IndexService(t.app.db, t.app.agents, t.app.config.embedding, t.app.config.dataDir);
    const again = await other.sync('persist');
    expect(again).toMatchObject({ rebuilt: false, count: 3 });
    const { table } = await other.table(agent.id);
    expect(table.idList().length).toBe(3);
    // Nobody took the changes away: the feed still holds them for any other process.
    const { rows } = await t.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM index_outbox WHERE agent_id = $1', [agent.id]);
    expect(rows[0].n).toBe(5);
    expect(BigInt(other.store.readManifest(agent.id)!.feedPosition!)).toBeGreaterThan(0n);
  });

  it('rebuilds with --force-rebuild and when the saved index is corrupt', async () => {
    const agent = await t.app.agents.create({ name: 'corrupt' }, ACTOR);
    await t.app.examples.addMany('corrupt', [ex('one'), ex('two')], ACTOR);
    await t.app.syncTrainingDataToVectorStore('corrupt');
    expect(await t.app.syncTrainingDataToVectorStore('corrupt', { forceRebuild: true })).toMatchObject({ rebuilt: true, count: 2 });
    const m = t.app.memoryIndex.store.readManifest(agent.id)!;
    fs.writeFileSync(path.join(t.app.memoryIndex.store.folder(agent.id), m.dataFile), 'garbage');
    const { IndexService } = await import('../../src/indexing/index-service.ts');
    const other = new IndexService(t.app.db, t.app.agents, t.app.config.embedding, t.app.config.dataDir);
    expect(await other.sync('corrupt')).toMatchObject({ rebuilt: true, count: 2 });
  });

  it('reports count, lag, model and last sync per agent', async () => {
    await t.app.agents.create({ name: 'status' }, ACTOR);
    await t.app.examples.addMany('status', [ex('s1'), ex('s2')], ACTOR);
    const before = (await t.app.memoryIndex.status()).find((s) => s.agentName === 'status')!;
    // Not built in this process (and no long-running process holds it): nothing is behind yet.
    expect(before).toMatchObject({ examples: 2, model: 'hashing-v2', count: null, lastSync: null });
    await t.app.memoryIndex.sync('status');
    const after = (await t.app.memoryIndex.status()).find((s) => s.agentName === 'status')!;
    expect(after).toMatchObject({ examples: 2, lagChanges: 0, lagSeconds: 0, count: 2, processLagChanges: 0 });
    expect(after.lastSync).not.toBeNull();
    // A change this process has not applied yet is lag, until it catches up.
    await t.app.examples.add('status', ex('s3'), ACTOR);
    const behind = (await t.app.memoryIndex.status()).find((s) => s.agentName === 'status')!;
    expect(behind).toMatchObject({ examples: 3, count: 2, lagChanges: 1, processLagChanges: 1 });
    await t.app.memoryIndex.catchUp();
    expect((await t.app.memoryIndex.status()).find((s) => s.agentName === 'status')).toMatchObject({ examples: 3, count: 3, lagChanges: 0 });
  });

  it('drops the index of a deleted agent', async () => {
    const agent = await t.app.agents.create({ name: 'doomed' }, ACTOR);
    await t.app.examples.add('doomed', ex('bye'), ACTOR);
    await t.app.syncTrainingDataToVectorStore('doomed');
    expect(fs.existsSync(t.app.memoryIndex.store.folder(agent.id))).toBe(true);
    await t.app.agents.delete('doomed', ACTOR);
    await t.app.index.catchUp();
    expect(fs.existsSync(t.app.memoryIndex.store.folder(agent.id))).toBe(false);
  });
});

describe('the sync worker', () => {
  it('makes an example inserted with plain SQL searchable within a second, without a sync call', async () => {
    const agent = await t.app.agents.create({ name: 'realtime' }, ACTOR);
    await t.app.examples.add('realtime', ex('warm up the index'), ACTOR);
    await t.app.hybridRetrieveBestExamples({ agentId: 'realtime', query: 'warm', topK: 1 });
    const worker = await t.app.startSyncWorker({ pollMs: 5000 });
    try {
      for (let i = 0; i < 5; i++) {
        const prompt = `zebra quartz ${i} xylophone`;
        const t0 = performance.now();
        await t.app.db.query(
          `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ($1, $2, 'c', 0.9, 'positive')`,
          [agent.id, prompt],
        );
        for (;;) {
          const r = await t.app.hybridRetrieveBestExamples({ agentId: 'realtime', query: prompt, topK: 1 });
          if (r.results[0]?.input === prompt) break;
          expect(performance.now() - t0).toBeLessThan(1000);
          await new Promise((res) => setTimeout(res, 5));
        }
      }
      expect(worker.lastError).toBeUndefined();
    } finally {
      await worker.stop();
    }
  });

  it.runIf(TEST_DB === 'postgres')('picks up a row inserted by psql itself', async () => {
    const agent = await t.app.agents.create({ name: 'psql' }, ACTOR);
    await t.app.examples.add('psql', ex('seed row'), ACTOR);
    await t.app.hybridRetrieveBestExamples({ agentId: 'psql', query: 'seed', topK: 1 });
    const worker = await t.app.startSyncWorker({ pollMs: 5000 });
    try {
      const prompt = 'inserted from psql with no sync call';
      const t0 = performance.now();
      const r = spawnSync('psql', [t.env.DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-c',
        `SET search_path = ${t.env.EXEMPLAR_DB_SCHEMA}; INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ('${agent.id}', '${prompt}', 'c', 0.9, 'positive')`,
      ], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      for (;;) {
        const res = await t.app.hybridRetrieveBestExamples({ agentId: 'psql', query: prompt, topK: 1 });
        if (res.results[0]?.input === prompt) break;
        expect(performance.now() - t0).toBeLessThan(1000);
        await new Promise((res) => setTimeout(res, 5));
      }
    } finally {
      await worker.stop();
    }
  });
});

// Files only, no database: run it once, in the pglite project.
describe.runIf(TEST_DB === 'pglite')('crash safety of the file store', () => {
  it('a kill -9 at any moment of a save leaves the old index or the new one', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-crash-'));
    const store = new FileVectorStore(root);
    const seed = new VectorTable(64);
    seed.upsert({ id: '00000000-0000-4000-8000-000000000000', vector: new Float32Array(64).fill(0.125), reward: 0.5, type: 'positive', hash: '0000000000000000' });
    store.save('agent', seed, { model: 'hashing-v2', watermark: 0 });
    // A child process saves bigger and bigger indexes in a loop; we kill it at random moments.
    const script = `
      import { FileVectorStore } from ${JSON.stringify(path.resolve('src/vectors/file-store.ts'))};
      import { VectorTable } from ${JSON.stringify(path.resolve('src/vectors/vector-table.ts'))};
      const store = new FileVectorStore(${JSON.stringify(root)});
      const table = new VectorTable(64);
      for (let gen = 1; ; gen++) {
        for (let i = 0; i < 500; i++) {
          const id = gen.toString(16).padStart(8, '0') + '-0000-4000-8000-' + i.toString(16).padStart(12, '0');
          table.upsert({ id, vector: new Float32Array(64).fill(0.125), reward: gen % 100 / 100, type: 'positive', hash: '0000000000000000' });
        }
        store.save('agent', table, { model: 'hashing-v2', watermark: gen });
      }`;
    const file = path.join(root, 'saver.ts');
    fs.writeFileSync(file, script);
    const counts = new Set<number>();
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: 'ignore' });
      await new Promise((res) => setTimeout(res, 700 + Math.random() * 600));
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
      const loaded = store.load('agent')!; // throws on a torn or mixed index
      expect(loaded.table.size).toBe(loaded.manifest.count);
      expect(loaded.manifest.watermark === 0 || loaded.table.size === loaded.manifest.watermark * 500).toBe(true);
      counts.add(loaded.table.size);
    }
    expect(counts.size).toBeGreaterThan(1); // the saves really were interrupted at different points
    fs.rmSync(root, { recursive: true, force: true });
  });
});
