import type { Access } from '../src/access/access.ts';
import type { Exemplar } from '../src/exemplar.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { invoke } from '../src/operations/invoke.ts';
import { findOperation } from '../src/operations/registry.ts';
import { fmt, openBenchApp, percentile, syntheticJsonl } from './support.ts';

const RUN_SQL = findOperation('run_sql')!;

/**
 * What one read key can do to everyone else through run_sql (issue 12). Each candidate is an
 * attack the key might try; the gateway refuses some of them, and the worst one it lets through
 * is the one the search client has to live with.
 */
const ATTACKS: { name: string; sql: string }[] = [
  // The hidden-size series of the issue: a freeze of the whole PGlite server before the fix.
  { name: 'series sized by a subquery', sql: 'SELECT count(*) FROM generate_series(1, (SELECT 100000000))' },
  { name: 'self cross join', sql: 'SELECT count(*) FROM training_examples a, training_examples b' },
  // Each filter is guessed to keep 0.5% of the rows, so the planner's cost looks small: a freeze on PGlite before the worst-case check.
  {
    name: 'three-way self join the planner underestimates',
    sql: 'SELECT count(*) FROM training_examples x, training_examples y, training_examples z WHERE x.reward_score * 1 = x.reward_score AND y.reward_score * 1 = y.reward_score AND z.reward_score * 1 = z.reward_score',
  },
  { name: 'self join on a non-key column', sql: 'SELECT count(*) FROM training_examples a JOIN training_examples b ON a.example_type = b.example_type' },
  { name: 'big rows (1 MB each, rowLimit 10000)', sql: "SELECT repeat('x', 1048576) AS s FROM generate_series(1, 10000)" },
  { name: 'sort of every row by a hash', sql: 'SELECT id FROM training_examples ORDER BY md5(completion || prompt)' },
  { name: 'aggregate over every row', sql: "SELECT md5(string_agg(completion, '' ORDER BY id)) FROM training_examples" },
  { name: 'every example', sql: 'SELECT * FROM training_examples' },
  ...[50_000_000, 10_000_000, 1_000_000, 100_000, 30_000].map((n) => ({ name: `the largest series allowed (${fmt(n, 0)} rows)`, sql: `SELECT count(*) FROM generate_series(1, ${n})` })),
];

/** Issue 12's figures: a search client's latency while one read key runs the worst query it is allowed. */
export async function benchSql(n = 10_000, seconds = 8, attackers = 12, everyMs = 20): Promise<void> {
  console.log(
    `\n## run_sql against everyone else (${fmt(n, 0)} examples; one read key sends ${attackers} concurrent run_sql requests back to back, ` +
      `its worst allowed query; one search client in the same process, a search due every ${everyMs} ms, latency counted from when it was due)`,
  );
  const lines: string[] = [];
  // PostgreSQL runs with each vector backend: the memory index (what one replica gets with
  // EXEMPLAR_VECTOR_BACKEND=memory) and pgvector's exact scan (what auto picks where the server has pgvector).
  const setups: { kind: 'pglite' | 'postgres'; label: string; env: Record<string, string> }[] = [
    { kind: 'pglite' as const, label: 'PGlite', env: {} },
    { kind: 'postgres' as const, label: 'PostgreSQL (pool 10), memory backend', env: { EXEMPLAR_VECTOR_BACKEND: 'memory' } },
    { kind: 'postgres' as const, label: 'PostgreSQL (pool 10), pgvector exact', env: {} },
  ];
  // BENCH_SQL_ONLY=pglite or postgres runs one database.
  for (const { kind, label, env } of setups.filter((s) => !process.env.BENCH_SQL_ONLY || process.env.BENCH_SQL_ONLY === s.kind)) {
    const { app, close } = await openBenchApp(kind, env);
    // No rate limit: it would turn most of the attacker's back-to-back calls into instant 429s;
    // this measures what the gateway's own limits leave the other clients.
    app.config.rateLimitSearch = 0;
    try {
      await app.agents.create({ name: 'bench' }, 'bench');
      await importExamples(app.examples, 'bench', syntheticJsonl(n), 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
      await app.syncTrainingDataToVectorStore('bench');
      const agentId = (await app.agents.get('bench')).id;
      const access: Access = { keyId: 'bench-reader', admin: false, read: new Set([agentId]), write: new Set() };
      const runSql = (sql: string) =>
        invoke(RUN_SQL, { sql, rowLimit: 10_000 }, { app, actor: 'key:bench-reader', access }) as Promise<{ rowCount: number; truncated: boolean; truncatedBy?: string }>;
      const search = searcher(app, everyMs);
      // Loads the SQL parser's WASM, so the first attack's time is its own.
      await runSql('SELECT 1');

      // The worst query: the one that holds the database longest among those the gateway runs,
      // whether it ends in rows or in its timeout (on PGlite a refusal comes before the query starts).
      console.log(`\n### Each attack alone, ${label}: the gateway's answer, its time, and the process's peak resident memory while it ran`);
      console.log('| attack | answer | time | peak RSS over the start |');
      console.log('|---|---|---|---|');
      let worst = { name: '', sql: '', ms: -1 };
      for (const attack of ATTACKS) {
        const rssBefore = process.memoryUsage().rss;
        const sampler = rssSampler();
        // Three runs, the median time: the first run of a kind of query also pays for warming up.
        const times: number[] = [];
        let outcome = '';
        for (let i = 0; i < 3; i++) {
          const t = performance.now();
          outcome = await runSql(attack.sql).then(
            (r) => `${r.rowCount} rows${r.truncated ? `, truncated by ${r.truncatedBy}` : ''}`,
            (e: { code?: string; message: string }) => `${e.code}: ${e.message.slice(0, 90)}${e.message.length > 90 ? '...' : ''}`,
          );
          times.push(performance.now() - t);
        }
        const ms = times.sort((a, b) => a - b)[1];
        const peak = sampler.stop();
        console.log(`| ${attack.name}: \`${attack.sql}\` | ${outcome.replaceAll('|', '/')} | ${fmt(ms, 0)} ms | +${fmt(Math.max(0, peak - rssBefore) / 1e6, 0)} MB |`);
        const ran = / rows/.test(outcome) || /cancelled/.test(outcome);
        if (ran && ms > worst.ms) worst = { ...attack, ms };
      }
      await search.run(1); // warm up
      const alone = await search.run(seconds / 2);
      const stop = { now: false };
      const counts = { ok: 0, busy: 0, other: 0 };
      const attack = Promise.all(
        Array.from({ length: attackers }, async () => {
          while (!stop.now) {
            await runSql(worst.sql).then(
              () => counts.ok++,
              async (e: { code?: string }) => {
                if (e.code === 'sql_busy') counts.busy++;
                else counts.other++;
                await new Promise((r) => setTimeout(r, 5)); // a client retrying at once, a little politely
              },
            );
          }
        }),
      );
      const under = await search.run(seconds);
      stop.now = true;
      await attack;
      lines.push(
        `| ${label} | ${worst.name} | ${fmt(worst.ms, 0)} ms | ` +
          `${counts.ok} / ${counts.busy} / ${counts.other} | ${fmt(percentile(alone, 50), 1)} ms | ${fmt(percentile(alone, 99), 1)} ms | ` +
          `${fmt(percentile(under, 50), 1)} ms | ${fmt(percentile(under, 99), 1)} ms | ${fmt(under[under.length - 1], 0)} ms |`,
      );
    } finally {
      await close();
    }
  }
  console.log(`\n### A search client while the worst attack runs (${seconds} s; run_sql answers: ok / 429 busy / other errors such as timeouts; no rate limit)`);
  console.log('| database | worst attack | its time alone | run_sql answers | search p50 alone | search p99 alone | search p50 under attack | search p99 under attack (goal < 100 ms) | slowest search |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const line of lines) console.log(line);
  console.log('Search: hybridRetrieveBestExamples (top 10, min score 0.5, positive), as the REST and MCP doors call it. The worst query is the slowest of the attacks in bench/sql.ts that the gateway runs rather than refuses.');
}

/**
 * An open-loop search client: a search is due every 10 ms whether or not the last one is done, and
 * each one's latency counts from when it was due. A client that waited for each answer before
 * asking again would be stalled by a blocked database only once per block, and report a p99 that
 * hides the block (coordinated omission).
 */
function searcher(app: Exemplar, everyMs = 10) {
  let i = 0;
  return {
    async run(seconds: number): Promise<number[]> {
      const times: number[] = [];
      const pending: Promise<void>[] = [];
      const start = performance.now();
      for (let k = 0; k < (seconds * 1000) / everyMs; k++) {
        const due = start + k * everyMs;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        pending.push(
          app.hybridRetrieveBestExamples({ agentId: 'bench', query: `retry on failure in python ${i++}`, minScore: 0.5, topK: 10, exampleType: 'positive' })
            .then(() => void times.push(performance.now() - due)),
        );
      }
      await Promise.all(pending);
      return times.sort((a, b) => a - b);
    },
  };
}

/** Samples resident memory every 10 ms (between the awaits of the query) and keeps the peak. */
function rssSampler() {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  return {
    stop(): number {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}
