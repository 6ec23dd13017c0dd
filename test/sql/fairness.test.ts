import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Access } from '../../src/access/access.ts';
import { importExamples } from '../../src/import-export/import-export.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let reader: Access;

beforeAll(async () => {
  t = await openTestApp();
  const agent = await t.app.agents.create({ name: 'fair' }, ACTOR);
  const lines = Array.from({ length: 2000 }, (_, i) =>
    JSON.stringify({ prompt: `how do I retry a request ${i}`, completion: `use backoff, attempt ${i}`, reward_score: (i % 100) / 100, example_type: 'positive' }),
  );
  await importExamples(t.app.examples, 'fair', `${lines.join('\n')}\n`, ACTOR, { format: 'jsonl' }, t.app.config.maxTextBytes);
  await t.app.syncTrainingDataToVectorStore('fair');
  reader = { keyId: 'reader', admin: false, read: new Set([agent.id]), write: new Set() };
});

afterAll(() => t.close());

// The bench measures the p99 against its 100 ms goal (bench/sql.ts); this guards a bound loose
// enough for a busy 2-core machine, where the attack's own CPU slows everything down, yet below
// what the attacks did before: a 29 s freeze on PGlite, and on PostgreSQL 12 five-second queries
// holding the 10 pooled connections, so searches waited 5 s for one.
it("one key's worst queries leave searches answered within 2.5 s", async () => {
  const attacks = [
    'SELECT count(*) FROM generate_series(1, (SELECT 100000000))',
    'SELECT count(*) FROM training_examples a, training_examples b, training_examples c',
    "SELECT repeat('x', 1048576) AS s FROM generate_series(1, 10000)",
  ];
  let stop = false;
  const attacker = Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      while (!stop) {
        await invoke(findOperation('run_sql')!, { sql: attacks[i % attacks.length], rowLimit: 10_000 }, { app: t.app, actor: ACTOR, access: reader }).catch(
          () => new Promise((r) => setTimeout(r, 5)),
        );
      }
    }),
  );
  // Open loop: a search is due every 20 ms, and its latency counts from when it was due.
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let k = 0; k < 150; k++) {
    const due = start + k * 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      t.app
        .hybridRetrieveBestExamples({ agentId: 'fair', query: `retry a request ${k}`, minScore: 0.5, topK: 5 })
        .then(() => void latencies.push(performance.now() - due)),
    );
  }
  await Promise.all(pending);
  stop = true;
  await attacker;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)];
  expect(latencies).toHaveLength(150);
  expect(p99).toBeLessThan(2500);
});
