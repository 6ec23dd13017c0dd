/**
 * A focused pgvector/HNSW bench that keeps its data between runs (issue 13's 1M figures take a
 * long import and build; this loads once into schema exemplar_hnsw_<n> and reuses it, with each
 * index it built and the exact answers).
 *
 *   node --import tsx bench/pgvector-hnsw.ts load 100000
 *   HNSW_BUILDS=24x128 HNSW_EF=200,400 HNSW_RERANK=40 node --import tsx bench/pgvector-hnsw.ts exp 100000 '^hyb'
 *
 * `exp` runs the variants whose name matches any of the patterns. Knobs (env):
 *   HNSW_BUILDS      m x ef_construction of the hybrid-vector indexes, e.g. 16x64,24x128 (default 16x64,24x100,32x128)
 *   HNSW_EF          hnsw.ef_search values (default 40,100,200,400)
 *   HNSW_RERANK      rows asked of the index and re-ranked in full precision (default 10,40,100)
 *   HNSW_ORDERS      hnsw.iterative_scan modes (default relaxed_order,strict_order)
 *   HNSW_MAX_SCAN    hnsw.max_scan_tuples (default 20000, the backend's)
 *   HNSW_MWM         maintenance_work_mem for a build (default 8GB at 1M, 1GB below)
 *   HNSW_WORKERS     max_parallel_maintenance_workers for a build (default 2)
 *   HNSW_PREWARM=1   pg_prewarm the index and example_vectors before measuring (contrib; into shared_buffers,
 *                    which keeps only what fits, and the rest in the OS cache)
 *   QUERIES          queries per filter (default 100 at 1M, 200 below)
 */
import { loadConfig } from '../src/config/config.ts';
import { Exemplar } from '../src/exemplar.ts';
import fs from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { hnswName, hybridVectorSql, PgvectorIndex } from '../src/indexing/pgvector-index.ts';
import { hybridScore, type ScanFilter } from '../src/vectors/vector-table.ts';
import { bulkLoad } from './retrieval.ts';
import { BENCH_DATABASE_URL, percentile, syntheticExamples } from './support.ts';

export async function openPersistent(n: number, env: Record<string, string> = {}): Promise<Exemplar> {
  return Exemplar.open(loadConfig({ DATABASE_URL: BENCH_DATABASE_URL, EXEMPLAR_DB_SCHEMA: `exemplar_hnsw_${n}`, EXEMPLAR_VECTOR_BACKEND: 'pgvector', ...env }));
}

async function load(n: number): Promise<void> {
  const app = await openPersistent(n);
  try {
    if (!(app.index instanceof PgvectorIndex)) throw new Error('no pgvector');
    const agent = (await app.agents.resolve('bench').catch(() => undefined)) ?? (await app.agents.create({ name: 'bench' }, 'bench'));
    const { rows: [c] } = await app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM training_examples WHERE agent_id = $1', [agent.id]);
    if (c.n === 0) {
      const embedder = app.index.embedder(agent.embeddingModel);
      const t = await bulkLoad(app, agent.id, embedder.provider, n);
      console.log(`loaded ${n} in ${t.secs.toFixed(0)} s`);
    }
    const t0 = performance.now();
    await app.index.catchUp([agent.id]);
    console.log(`catch-up ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await app.db.query('ANALYZE training_examples; ANALYZE example_vectors');
  } finally {
    await app.close();
  }
}


const ALPHA = 0.6;
const BETA = 0.4;
const FILTERS = [0.5, 0.9, 0.99];
const K = 10;
/** hnsw.max_scan_tuples of the raw hybrid variants (the backend's MAX_SCAN_TUPLES by default). */
const maxScan = process.env.HNSW_MAX_SCAN ?? '20000';

const hybridExpr = hybridVectorSql;

interface Variant {
  name: string;
  /** Index DDL that must exist (CREATE INDEX IF NOT EXISTS ...). */
  index?: string;
  settings: Record<string, string>;
  kind: 'sim' | 'hybrid' | 'simjoin' | 'app';
  /** hybrid: rows asked of the index, re-ranked exactly. */
  limit?: number;
  ef?: number;
}

async function experiment(n: number, names: string[]): Promise<void> {
  const app = await openPersistent(n);
  const agent = await app.agents.resolve('bench');
  const index = app.index as PgvectorIndex;
  const provider = index.embedder(agent.embeddingModel).provider;
  const model = provider.modelId;
  const dims = provider.dimensions;
  const lit = `'${model.replaceAll("'", "''")}'`;
  const indexes = new Map<string, PgvectorIndex>();
  const appIndex = (ef?: number) => {
    const key = String(ef);
    if (!indexes.has(key)) indexes.set(key, new PgvectorIndex(app.db, app.agents, (s) => index.embedder(s), () => index.cacheStats(), ef === undefined ? { exactMaxRows: Infinity, efSearch: 100 } : { exactMaxRows: 0, efSearch: ef }));
    return indexes.get(key)!;
  };
  const c = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await c.connect();
  await c.query(`SET search_path = exemplar_hnsw_${n}, public`);
  const nq = Number(process.env.QUERIES ?? (n >= 1_000_000 ? 100 : 200));
  const queries = [...syntheticExamples(nq, 99)].map((e) => e.prompt);
  const vectors = await provider.embed(queries);
  const qtext = vectors.map((v) => `[${Array.from(v).join(',')}]`);
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const htext = vectors.map((v) => {
    const nv = norm(v) || 1;
    return `[${[...Array.from(v, (x) => (ALPHA * x) / nv), BETA, 0].join(',')}]`;
  });

  // Ground truth: the exact hybrid top 10 per query and filter, computed once.
  await c.query(`CREATE TABLE IF NOT EXISTS bench_truth (q int, min_reward float8, ids text[], PRIMARY KEY (q, min_reward))`);
  const { rows: have } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM bench_truth');
  if (have[0].n < nq * FILTERS.length) {
    const t0 = performance.now();
    for (let i = 0; i < nq; i++) {
      const done = await c.query('SELECT 1 FROM bench_truth WHERE q = $1', [i]);
      if (done.rowCount === FILTERS.length) continue;
      await c.query(
        `WITH s AS MATERIALIZED (
           SELECT example_id::text AS id, reward_score AS r, ${ALPHA} * coalesce(nullif(1 - (embedding <=> $1::vector), 'NaN'::float8), 0) + ${BETA} * reward_score AS h
             FROM example_vectors WHERE agent_id = $2 AND model = ${lit} AND reward_score >= 0.5 AND example_type = 'positive')
         INSERT INTO bench_truth SELECT $3, f, ARRAY(SELECT id FROM s WHERE r >= f ORDER BY h DESC, id LIMIT ${K}) FROM unnest($4::float8[]) f
         ON CONFLICT DO NOTHING`,
        [qtext[i], agent.id, i, FILTERS],
      );
    }
    console.error(`truth: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const truth = new Map<string, string[]>();
  for (const r of (await c.query<{ q: number; min_reward: number; ids: string[] }>('SELECT * FROM bench_truth')).rows) truth.set(`${r.q}/${r.min_reward}`, r.ids);

  const list = (name: string, dflt: string) => (process.env[name] ?? dflt).split(',').map((x) => x.trim()).filter(Boolean);
  const builds = list('HNSW_BUILDS', '16x64,24x100,32x128').map((b) => b.split('x').map(Number) as [number, number]);
  const efs = list('HNSW_EF', '40,100,200,400').map(Number);
  const reranks = list('HNSW_RERANK', '10,40,100').map(Number);
  const orders = list('HNSW_ORDERS', 'relaxed_order,strict_order');
  const simIndex = (m: number, efc: number) =>
    `CREATE INDEX IF NOT EXISTS bench_sim_m${m}_e${efc} ON example_vectors USING hnsw ((embedding::halfvec(${dims})) halfvec_cosine_ops) WITH (m = ${m}, ef_construction = ${efc}) WHERE model = ${lit}`;
  const hybIndex = (m: number, efc: number) =>
    `CREATE INDEX IF NOT EXISTS ${m === 16 && efc === 64 ? hnswName(model) : `bench_hyb_m${m}_e${efc}`} ON example_vectors USING hnsw ((${hybridExpr(dims)}) halfvec_cosine_ops) WITH (m = ${m}, ef_construction = ${efc}) WHERE model = ${lit}`;
  const variants: Variant[] = [];
  for (const [m, efc] of builds) {
    for (const ef of efs) {
      for (const order of orders) {
        const settings = { 'hnsw.ef_search': String(ef), 'hnsw.iterative_scan': order };
        variants.push({ name: `sim m${m} efc${efc} ef${ef} ${order}`, index: simIndex(m, efc), settings, kind: 'sim', ef });
        variants.push({ name: `simjoin m${m} efc${efc} ef${ef} ${order}`, index: simIndex(m, efc), settings, kind: 'simjoin', ef });
        for (const limit of reranks) {
          variants.push({ name: `hyb m${m} efc${efc} ef${ef} ${order} L${limit}`, index: hybIndex(m, efc), settings, kind: 'hybrid', limit, ef });
        }
      }
    }
  }
  for (const ef of efs) variants.push({ name: `app ef${ef}`, settings: {}, kind: 'app', ef });
  variants.push({ name: 'app exact', settings: {}, kind: 'app' });
  const want = variants.filter((v) => names.some((p) => new RegExp(p).test(v.name)));
  console.log(`Each line: examples | reward filter (positive, reward >= it) | variant | p50 ms | p99 ms | recall@10 against the exact hybrid top 10 | plans | PostgreSQL backend CPU ms per query (mean; - for app variants, which use a pool) | load average (1 min) at the end; ${nq} queries not in the data, 3 warm-up.`);
  const backendPid = (await c.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0].p;
  const prewarmed = new Set<string>();
  for (const v of want) {
    const idxName = v.index ? /EXISTS (\S+)/.exec(v.index)![1] : hnswName(model);
    if (v.index) {
      const exists = (await c.query('SELECT to_regclass($1) AS t', [idxName])).rows[0].t;
      if (!exists) {
        // pgvector builds fast only while the graph fits in maintenance_work_mem (it says so in a NOTICE when it stops fitting).
        const mwm = process.env.HNSW_MWM ?? (n > 200_000 ? '8GB' : '1GB');
        const workers = process.env.HNSW_WORKERS ?? '2';
        await c.query(`SET maintenance_work_mem = '${mwm}'`);
        await c.query(`SET max_parallel_maintenance_workers = ${Number(workers)}`);
        const notices: string[] = [];
        const onNotice = (m: { message?: string }) => notices.push(m.message ?? '');
        c.on('notice', onNotice);
        const t0 = performance.now();
        await c.query(v.index);
        c.off('notice', onNotice);
        const size = (await c.query<{ s: string }>('SELECT pg_size_pretty(pg_relation_size($1)) AS s', [idxName])).rows[0].s;
        console.log(`build: ${idxName} (${/WITH \(([^)]*)\)/.exec(v.index)![1]}) over ${n} rows in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${size}, maintenance_work_mem ${mwm}, ${workers} parallel workers, load average ${loadAverage()}${notices.length ? `; notices: ${notices.join(' / ')}` : ''}`);
      }
    }
    if (process.env.HNSW_PREWARM === '1' && !prewarmed.has(idxName)) {
      const t0 = performance.now();
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_prewarm SCHEMA public');
      const { rows: [w] } = await c.query<{ i: number; t: number }>(`SELECT public.pg_prewarm($1::regclass) AS i, public.pg_prewarm('example_vectors') AS t`, [idxName]);
      console.log(`prewarm: ${w.i} index and ${w.t} table blocks read in ${((performance.now() - t0) / 1000).toFixed(0)} s (shared_buffers keeps what fits)`);
      prewarmed.add(idxName);
    }
    await c.query('ANALYZE example_vectors');
    // Several builds over the same expression: the planner would pick any of them. The variant's
    // queries run in one transaction that drops the others and is rolled back (no index hints in PostgreSQL).
    const others = v.kind === 'app' ? [] : (await c.query<{ n: string }>(
      `SELECT c.relname AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = 'example_vectors'::regclass AND a.amname = 'hnsw' AND c.relname <> $1`, [idxName])).rows.map((r) => r.n);
    if (v.kind !== 'app') {
      await c.query('BEGIN');
      for (const o of others) await c.query(`DROP INDEX ${o}`);
    }
    for (const f of FILTERS) {
      const times: number[] = [];
      let recall = 0;
      const plans = new Map<string, number>();
      let cpu0 = 0;
      for (let i = -3; i < nq; i++) {
        if (i === 0) cpu0 = cpuMs(backendPid);
        const qi = Math.max(0, i);
        const t = performance.now();
        const { ids, plan } = v.kind === 'app'
          ? await (async () => {
              const ix = appIndex(v.ef);
              const got = await ix.propose(agent, vectors[qi], K, { minReward: f, types: ['positive'], alpha: ALPHA, beta: BETA });
              return { ids: got.map((p) => p.id), plan: ix.lastPlan!.mode };
            })()
          : await runVariant(c, v, { agentId: agent.id, lit, dims, q: qtext[qi], h: htext[qi], minReward: f });
        const dt = performance.now() - t;
        if (i < 0) continue; // warm-up
        times.push(dt);
        plans.set(plan, (plans.get(plan) ?? 0) + 1);
        const exact = truth.get(`${qi}/${f}`)!;
        recall += ids.filter((id) => exact.includes(id)).length / Math.max(1, exact.length);
      }
      const cpu = v.kind === 'app' ? '-' : ((cpuMs(backendPid) - cpu0) / nq).toFixed(1);
      times.sort((a, b) => a - b);
      console.log(`| ${n} | ${f} | ${v.name}${others.length ? ' (alone)' : ''} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 99).toFixed(1)} | ${(recall / nq).toFixed(3)} | ${[...plans].map(([p, k]) => `${p}: ${k}`).join(', ')} | ${cpu} | ${loadAverage()} |`);
    }
    if (v.kind !== 'app') await c.query('ROLLBACK'); // the other indexes come back
  }
  await c.end();
  await app.close();
}

type Cand = { id: string; similarity: number; reward: number };

/**
 * CPU time (user + system) a local PostgreSQL backend has used, in ms: unlike latency, what a
 * query costs does not grow with other work on the machine (Linux only; 0 elsewhere).
 */
function cpuMs(pid: number): number {
  try {
    // Fields 14 and 15 of /proc/<pid>/stat, after the command name in parentheses; clock ticks of 10 ms.
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** Other work on the machine skews latencies: every figure says how busy it was. */
function loadAverage(): string {
  return os.loadavg()[0].toFixed(1);
}

async function runVariant(c: pg.Client, v: Variant, a: { agentId: string; lit: string; dims: number; q: string; h: string; minReward: number }): Promise<{ ids: string[]; plan: string }> {
  const hyb = (x: Cand) => ALPHA * x.similarity + BETA * x.reward;
  const rank = (cands: Cand[]) => cands.sort((x, y) => hyb(y) - hyb(x) || (x.id < y.id ? -1 : 1)).slice(0, K).map((x) => x.id);
  const sim = `coalesce(nullif(1 - (embedding <=> $1::vector), 'NaN'::float8), 0)`;
  // Inside the variant's transaction (see experiment): the settings hold until the next query sets its own.
  const withSettings = async (extra: Record<string, string>, sql: string, params: unknown[]) => {
    const entries = Object.entries({ ...v.settings, ...extra });
    await c.query(`SELECT ${entries.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`, entries.flat());
    return (await c.query<Cand>(sql, params)).rows;
  };
  if (v.kind === 'hybrid') {
    const rows = await withSettings({ 'hnsw.max_scan_tuples': maxScan },
      `SELECT example_id::text AS id, ${sim} AS similarity, reward_score AS reward FROM example_vectors
        WHERE model = ${a.lit} AND agent_id = $2 AND reward_score >= $3 AND example_type = 'positive'
        ORDER BY ${hybridExpr(a.dims)} <=> $4::halfvec(${a.dims + 2}) LIMIT ${v.limit}`,
      [a.q, a.agentId, a.minReward, a.h]);
    return { ids: rank(rows), plan: rows.length < K ? 'short' : 'hybrid' };
  }
  // sim / simjoin: the certified loop of PgvectorIndex.proposeHnsw.
  let m = Math.max(K * 4, v.ef ?? 40);
  for (let pass = 1; ; pass++) {
    m = Math.min(m, 1000);
    const sql = v.kind === 'sim'
      ? `SELECT example_id::text AS id, 1 - (embedding::vector(${a.dims}) <=> $1::vector(${a.dims})) AS similarity, reward_score AS reward FROM example_vectors
          WHERE model = ${a.lit} AND agent_id = $2 AND reward_score >= $3 AND example_type = 'positive'
          ORDER BY embedding::halfvec(${a.dims}) <=> $1::halfvec(${a.dims}) LIMIT ${m}`
      : `SELECT v.example_id::text AS id, 1 - (v.embedding::vector(${a.dims}) <=> $1::vector(${a.dims})) AS similarity, e.reward_score AS reward
           FROM example_vectors v JOIN training_examples e ON e.id = v.example_id
          WHERE v.model = ${a.lit} AND v.agent_id = $2 AND e.reward_score >= $3 AND e.example_type = 'positive'
          ORDER BY v.embedding::halfvec(${a.dims}) <=> $1::halfvec(${a.dims}) LIMIT ${m}`;
    const rows = await withSettings({ 'hnsw.ef_search': String(Math.max(m, v.ef ?? 40)), 'hnsw.max_scan_tuples': String(Math.max(20_000, m * 50)) }, sql, [a.q, a.agentId, a.minReward]);
    if (rows.length < m) return { ids: await exactIds(c, a), plan: 'exact (short)' };
    if (certified(rows, K, { minReward: a.minReward, alpha: ALPHA, beta: BETA })) return { ids: rank(rows), plan: `M=${m}` };
    if (m >= 1000) return { ids: await exactIds(c, a), plan: 'exact (uncertified)' };
    m *= 4;
  }
}

async function exactIds(c: pg.Client, a: { agentId: string; lit: string; q: string; minReward: number }): Promise<string[]> {
  const { rows } = await c.query<{ id: string }>(
    `SELECT example_id::text AS id FROM example_vectors WHERE agent_id = $2 AND model = ${a.lit} AND reward_score >= $3 AND example_type = 'positive'
      ORDER BY ${ALPHA} * coalesce(nullif(1 - (embedding <=> $1::vector), 'NaN'::float8), 0) + ${BETA} * reward_score DESC, example_id LIMIT ${K}`,
    [a.q, a.agentId, a.minReward],
  );
  return rows.map((r) => r.id);
}

const [cmd, arg, ...rest] = process.argv.slice(2);
if (cmd === 'load') await load(Number(arg));
if (cmd === 'exp') await experiment(Number(arg), rest);

/** The similarity-ordered path this bench compares against (before migration 010): Whether the k-th best hybrid score among HNSW's first M candidates beats every row outside them:
 * such a row has similarity <= s_M (the lowest among the candidates; 0 when that is negative,
 * since zero vectors are not in the index and score 0) and reward in [minReward, 1].
 */
function certified(candidates: { similarity: number; reward: number }[], k: number, filter: ScanFilter): boolean {
  if (candidates.length < k) return false;
  let sM = Infinity;
  for (const c of candidates) sM = Math.min(sM, c.similarity);
  const bound = filter.alpha * Math.max(sM, 0) + Math.max(filter.beta * filter.minReward, filter.beta * 1);
  const scores = candidates.map((c) => hybridScore(c.similarity, c.reward, filter.alpha, filter.beta)).sort((a, b) => b - a);
  // Strictly above: a row at the bound could tie and win on id.
  return scores[k - 1] > bound;
}

