import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { loadConfig } from '../../src/config/config.ts';
import { Exemplar } from '../../src/exemplar.ts';
import { LocalFineTuneBackend, processOwner } from '../../src/finetune/backends/local.ts';
import type { RunBackend } from '../../src/finetune/types.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, TEST_DATABASE_URL, TEST_DB, type TestEnv } from '../support/app.ts';

// The run folders go here on both databases (the postgres test app has no data directory of its own).
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-run-replicas-'));
let t: TestEnv;

beforeAll(async () => {
  t = await openTestApp({ dataDir });
  await t.app.agents.create({ name: 'ft' }, ACTOR);
  await t.app.examples.addMany(
    'ft',
    Array.from({ length: 12 }, (_, i) => ({ prompt: `question ${i} about topic ${i * 7}`, completion: `answer ${i}`, rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} })),
    ACTOR,
  );
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const createRun = (app: Exemplar, input: Record<string, unknown>) =>
  invoke(findOperation('create_run')!, { agent: 'ft', baseModel: 'tiny', ...input }, { app, actor: ACTOR, access: FULL_ACCESS }) as Promise<{ id: string; status: string }>;

const status = async (app: Exemplar, id: string) => (await app.runs.get(id)).status;

describe('local runs and replicas', () => {
  it('records the owner, and a replica in another process namespace neither fails nor cancels the run', async () => {
    const run = await createRun(t.app, { format: 'trl-conversational', backend: 'local', command: 'sleep 0.3; exit 0' });
    const { rows } = await t.app.db.query<{ state: Record<string, unknown> }>('SELECT backend_state AS state FROM fine_tuning_runs WHERE id = $1', [run.id]);
    expect(rows[0].state).toMatchObject({ owner: processOwner(), host: os.hostname() });

    // Another replica: its process table does not hold this pid, so it must not judge the run.
    const here = t.app.runs.backends.local;
    const elsewhere = new LocalFineTuneBackend({ owner: 'other-host|other-boot|pid:[1]' });
    t.app.runs.backends.local = elsewhere;
    try {
      await new Promise((r) => setTimeout(r, 800)); // the command has exited by now
      for (let i = 0; i < 3; i++) await t.app.runs.refreshAll();
      expect(await status(t.app, run.id)).toBe('running');
      await expect(t.app.runs.cancel(run.id, ACTOR)).rejects.toMatchObject({ code: 'run_elsewhere', message: expect.stringContaining(os.hostname()) });
    } finally {
      t.app.runs.backends.local = here;
    }
    await t.app.runs.refreshAll(); // the owner reads the exit code
    expect(await status(t.app, run.id)).toBe('succeeded');
  });

  it.skipIf(TEST_DB !== 'postgres')('follows each remote job from one replica per tick (an advisory lock)', async () => {
    // A second replica on the same schema, and a stand-in for OpenAI that counts its polls.
    const other = await Exemplar.open(loadConfig({ ...t.env, EXEMPLAR_DATA_DIR: dataDir }));
    let polls = 0;
    const remote = (): RunBackend => ({
      name: 'openai',
      check: () => {},
      start: async () => ({ status: 'running', externalId: 'ftjob-1' }),
      poll: async () => {
        polls++;
        await new Promise((r) => setTimeout(r, 300)); // a slow API: both replicas' ticks overlap
        return {};
      },
      cancel: async () => ({}),
    });
    t.app.runs.backends.openai = remote();
    other.runs.backends.openai = remote();
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      const run = await createRun(t.app, { format: 'openai-sft', backend: 'openai' });
      await Promise.all([t.app.runs.refreshAll(), other.runs.refreshAll()]);
      expect(polls).toBe(1);

      // While another session holds the lock, no replica polls.
      await holder.query(`SELECT pg_advisory_lock(hashtext($1 || '.exemplar_run_poller'))`, [t.env.EXEMPLAR_DB_SCHEMA]);
      await Promise.all([t.app.runs.refreshAll(), other.runs.refreshAll()]);
      expect(polls).toBe(1);
      await holder.query('SELECT pg_advisory_unlock_all()');
      await other.runs.refreshAll();
      expect(polls).toBe(2);
      expect(await status(other, run.id)).toBe('running');
    } finally {
      await holder.end();
      await other.close();
    }
  });
});
