import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Access } from '../../src/access/access.ts';
import { FULL_ACCESS } from '../../src/access/access.ts';
import type { Agent } from '../../src/agents/agents.ts';
import { ExemplarError, ValidationError } from '../../src/errors.ts';
import type { OperationContext } from '../../src/operations/operation.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { READABLE_TABLES } from '../../src/sql/check.ts';
import { createHash } from 'node:crypto';
import { SqlBusyError, SqlQueryError, SqlRejectedError, SqlResultTooLargeError, SqlTimeoutError } from '../../src/sql/errors.ts';
import { describeSchema, runReadOnlySql, type RunSqlOptions, type SqlResult, type SqlScope } from '../../src/sql/gateway.ts';
import { SqlLimiter } from '../../src/sql/limits.ts';
import { parseInput } from '../../src/validation.ts';
import { ACTOR, openTestApp, snapshot, TEST_DATABASE_URL, TEST_DB, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let A: Agent;
let B: Agent;

// Planted in agent B's rows and in tables no query may read. A scoped run (agent A) must never show
// them, in rows or in error messages; no run at all may show the API key hash or the cache.
const B_SECRETS = ['HIDDEN-PROMPT-B', 'HIDDEN-COMPLETION-B', 'HIDDEN-AUDIT-B', 'HIDDEN-VERSION-B', 'HIDDEN-MODEL-B', 'HIDDEN-HASH-B', 'hidden-beta'];
const OFF_LIMITS = ['K3Y-H4SH-SECRET', 'HIDDEN-CACHE-MODEL'];

beforeAll(async () => {
  // One connection, so a setting leaking out of the gateway's transaction would show in the next query.
  t = await openTestApp({ dbPoolSize: 1 });
  A = await t.app.agents.create({ name: 'alpha' }, ACTOR);
  B = await t.app.agents.create({ name: 'hidden-beta' }, ACTOR);
  const db = t.app.db;
  for (const [agent, tag] of [[A, 'visible-a'], [B, 'HIDDEN']] as const) {
    const suffix = agent === B ? '-B' : '';
    await db.query(
      `INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type, metadata)
       VALUES ($1, $2, $3, 0.9, 'positive', '{"source": "test"}'), ($1, $2 || ' 2', $3, 0.2, 'negative', '{}')`,
      [agent.id, `${tag}-PROMPT${suffix}`, `${tag}-COMPLETION${suffix}`],
    );
    await db.query(`INSERT INTO prompt_versions (agent_id, version, content, source) VALUES ($1, 1, $2, 'manual')`, [
      agent.id,
      `${tag}-VERSION${suffix}`,
    ]);
    await db.query(`INSERT INTO prompt_labels (agent_id, label, version) VALUES ($1, 'production', 1)`, [agent.id]);
    const run = await db.query<{ id: string }>(
      `INSERT INTO fine_tuning_runs (agent_id, backend, base_model, dataset_format) VALUES ($1, 'openai', $2, 'openai-chat') RETURNING id`,
      [agent.id, `${tag}-MODEL${suffix}`],
    );
    await db.query(
      `INSERT INTO run_examples (run_id, example_id, content_hash) SELECT $1, id, $2 FROM training_examples WHERE agent_id = $3`,
      [run.rows[0].id, `${tag}-HASH${suffix}`, agent.id],
    );
    await db.query(`INSERT INTO audit_log (actor, action, entity_type, agent_id, details) VALUES ('test', 'note', 'agent', $1, $2)`, [
      agent.id,
      { note: `${tag}-AUDIT${suffix}` },
    ]);
  }
  await db.query(`INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ('k', 'exk_', 'K3Y-H4SH-SECRET', '["admin"]')`);
  await db.query(`INSERT INTO embedding_cache (model, text_sha256, dimensions, embedding) VALUES ('HIDDEN-CACHE-MODEL', 'x', 1, '\\x00')`);
});

afterAll(async () => {
  await t.close();
  // Dropping the test schema drops the views, not the schema that held them.
  if (TEST_DB === 'postgres') {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${t.env.EXEMPLAR_DB_SCHEMA}_scoped CASCADE`);
    await client.end();
  }
});

const run = (sql: string, agentIds: SqlScope = 'all', extra: Omit<RunSqlOptions, 'agentIds'> = {}) =>
  runReadOnlySql(t.app.db, sql, { agentIds, ...extra });
const runOnce = run;

/** Settings of the (single) connection that the gateway must leave as it found them. */
async function sessionState(): Promise<Record<string, unknown>> {
  const { rows } = await t.app.db.query(
    `SELECT coalesce(current_setting('exemplar.agent_ids', true), '') AS scope, current_setting('search_path') AS path,
            current_setting('transaction_read_only') AS read_only, current_setting('statement_timeout') AS timeout,
            current_setting('standard_conforming_strings') AS scs, current_user AS role`,
  );
  return rows[0];
}

/**
 * Each must be refused before it runs, with its own reason. `B` in a string is replaced by agent B's id.
 */
const REJECTED: [string, RegExp][] = [
  // Several statements, the known escape included.
  ['COMMIT; DROP TABLE training_examples', /only one statement is allowed, got 2 \(COMMIT; DROP\)/],
  ['SELECT 1; DELETE FROM agents', /only one statement/],
  ['ROLLBACK; DELETE FROM agents; BEGIN', /only one statement/],
  ["SELECT * FROM agents WHERE name = 'x' ; DELETE FROM agents", /only one statement/],
  ["SELECT 'a' /* ; */ ; DROP TABLE agents", /only one statement/],
  ['SELECT $$ ; $$; DROP TABLE agents', /only one statement/],
  ['SELECT $a$ $$ ; DROP TABLE agents; $$ $a$; DELETE FROM agents', /only one statement/],
  // With standard strings a backslash does not escape the quote: the server and the parser agree.
  ["SELECT '\\'; DROP TABLE agents; --'", /only one statement/],
  ['/* /* nested */ */ DROP TABLE agents', /DROP is not allowed/],
  ['', /no SQL statement given/],
  ['-- only a comment', /no SQL statement given/],
  ['SELECT 1\u0000; DROP TABLE agents', /NUL character/],
  ['SELECT 1 /* unterminated', /not valid SQL/],
  ['SELECT $$ unterminated', /not valid SQL/],
  // Transaction control and settings.
  ['COMMIT', /transaction control is not allowed/],
  ['BEGIN', /transaction control/],
  ['ROLLBACK', /transaction control/],
  ['SAVEPOINT s', /transaction control/],
  ['SET ROLE postgres', /SET and RESET are not allowed/],
  ['SET search_path = public', /SET and RESET/],
  ["SET LOCAL exemplar.agent_ids = 'B'", /SET and RESET/],
  ['SET SESSION AUTHORIZATION postgres', /SET and RESET/],
  ['RESET ALL', /SET and RESET/],
  ['SHOW search_path', /SHOW is not allowed/],
  ["SELECT set_config('exemplar.agent_ids', 'B', true)", /set_config\(\) is not allowed: it is VOLATILE/],
  ["SELECT pg_catalog.set_config('search_path', 'public', false)", /set_config\(\) is not allowed/],
  ['DISCARD ALL', /DISCARD is not allowed/],
  // Writes, hidden or not.
  ['WITH x AS (DELETE FROM agents RETURNING *) SELECT * FROM x', /DELETE is not allowed, not even inside WITH/],
  ['WITH x AS (UPDATE training_examples SET reward_score = 0 RETURNING id) SELECT count(*) FROM x', /UPDATE is not allowed/],
  ["WITH x AS (INSERT INTO agents (name) VALUES ('evil') RETURNING id) SELECT * FROM x", /INSERT is not allowed/],
  ['SELECT * FROM (WITH d AS (DELETE FROM agents RETURNING 1) SELECT * FROM d) s', /DELETE is not allowed/],
  ['WITH x AS (MERGE INTO agents a USING agents b ON a.id = b.id WHEN MATCHED THEN DELETE RETURNING a.id) SELECT * FROM x', /MERGE is not allowed|not valid SQL/],
  ['DELETE FROM agents', /DELETE is not allowed/],
  ["UPDATE agents SET name = 'x'", /UPDATE is not allowed/],
  ["INSERT INTO agents (name) VALUES ('evil')", /INSERT is not allowed/],
  ['SELECT * INTO newtable FROM agents', /SELECT INTO is not allowed/],
  ['CREATE TABLE copy AS SELECT * FROM agents', /CREATE TABLE AS is not allowed/],
  ['SELECT * FROM agents FOR UPDATE', /FOR UPDATE and FOR SHARE are not allowed/],
  ['SELECT * FROM training_examples FOR SHARE NOWAIT', /FOR UPDATE and FOR SHARE/],
  ['SELECT * FROM (SELECT * FROM agents FOR UPDATE) s', /FOR UPDATE and FOR SHARE/],
  ["COPY agents TO PROGRAM 'touch /tmp/exemplar-pwned'", /COPY is not allowed/],
  ['COPY (SELECT * FROM api_keys) TO STDOUT', /COPY is not allowed/],
  ["COPY agents FROM '/etc/passwd'", /COPY is not allowed/],
  ['DO $$ BEGIN DELETE FROM agents; END $$', /DO is not allowed/],
  ['CALL some_procedure()', /CALL is not allowed/],
  ['EXPLAIN ANALYZE DELETE FROM agents', /EXPLAIN ANALYZE is not allowed/],
  ['EXPLAIN ANALYZE SELECT pg_sleep(10)', /EXPLAIN ANALYZE is not allowed/],
  ['EXPLAIN (ANALYZE, BUFFERS) SELECT 1', /EXPLAIN ANALYZE is not allowed/],
  ['EXPLAIN DELETE FROM agents', /EXPLAIN is only allowed for a SELECT/],
  ['EXPLAIN CREATE TABLE x AS SELECT 1', /EXPLAIN is only allowed for a SELECT/],
  ['PREPARE p AS SELECT 1', /PREPARE is not allowed/],
  ['EXECUTE p', /EXECUTE is not allowed/],
  ['DECLARE c CURSOR FOR SELECT 1', /DECLARE is not allowed/],
  ['FETCH ALL FROM exemplar_sql', /FETCH is not allowed/],
  ['LISTEN exemplar_index', /LISTEN is not allowed/],
  ["NOTIFY exemplar_index, 'x'", /NOTIFY is not allowed/],
  ['LOCK TABLE agents', /LOCK is not allowed/],
  ['VACUUM agents', /VACUUM and ANALYZE are not allowed/],
  ['ANALYZE agents', /VACUUM and ANALYZE/],
  ['CHECKPOINT', /CHECKPOINT is not allowed/],
  ["LOAD 'dblink'", /LOAD is not allowed/],
  ['CREATE TABLE evil (id int)', /CREATE is not allowed/],
  ['CREATE EXTENSION dblink', /CREATE EXTENSION is not allowed/],
  ["CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", /CREATE FUNCTION is not allowed/],
  ['DROP TABLE training_examples', /DROP is not allowed/],
  ['TRUNCATE agents', /TRUNCATE is not allowed/],
  ['ALTER TABLE agents ADD COLUMN x int', /ALTER TABLE is not allowed/],
  ['GRANT ALL ON agents TO PUBLIC', /GRANT is not allowed/],
  // Tables out of reach.
  ['SELECT * FROM api_keys', /table api_keys is not readable here; the readable tables are agents, training_examples/],
  ['SELECT * FROM public.api_keys', /table public.api_keys is not readable: names must not be schema-qualified/],
  ['SELECT * FROM pg_catalog.pg_authid', /schema-qualified/],
  ['SELECT * FROM pg_authid', /table pg_authid is not readable/],
  ['SELECT usename, passwd FROM pg_shadow', /table pg_shadow is not readable/],
  ['SELECT * FROM embedding_cache', /table embedding_cache is not readable/],
  ['SELECT * FROM index_outbox', /table index_outbox is not readable/],
  ['SELECT * FROM information_schema.tables', /schema-qualified/],
  ['SELECT * FROM pg_class', /not readable/],
  ['SELECT * FROM "public"."agents"', /schema-qualified/],
  ['SELECT * FROM test.public.agents', /schema-qualified/],
  ['SELECT * FROM U&"\\0061pi_keys"', /table api_keys is not readable/],
  ['SELECT * FROM "API_KEYS"', /table API_KEYS is not readable/],
  ['WITH api_keys AS (SELECT * FROM api_keys) SELECT * FROM api_keys', /table api_keys is not readable/],
  ["SELECT key_hash FROM api_keys UNION ALL (WITH api_keys AS (SELECT 'x' AS key_hash) SELECT key_hash FROM api_keys)", /api_keys is not readable/],
  ['WITH a AS (SELECT * FROM b), b AS (SELECT * FROM api_keys) SELECT * FROM a', /table b is not readable/],
  ['WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r, api_keys) SELECT 1', /api_keys is not readable/],
  ['SELECT (SELECT count(*) FROM api_keys)', /api_keys is not readable/],
  ['SELECT * FROM agents WHERE EXISTS (SELECT 1 FROM embedding_cache)', /embedding_cache is not readable/],
  // Functions with side effects, or that reach around the sandbox.
  ['SELECT pg_sleep(10)', /pg_sleep\(\) is not allowed: it is VOLATILE/],
  ['SELECT * FROM pg_sleep(10)', /pg_sleep\(\) is not allowed/],
  ['SELECT * FROM ROWS FROM (pg_sleep(1))', /pg_sleep\(\) is not allowed/],
  ['SELECT * FROM agents ORDER BY pg_sleep(1)', /pg_sleep\(\) is not allowed/],
  ['SELECT count(*) FILTER (WHERE pg_sleep(0) IS NULL) FROM agents', /pg_sleep\(\) is not allowed/],
  ['SELECT * FROM agents, LATERAL (SELECT pg_sleep(1)) s', /pg_sleep\(\) is not allowed/],
  ["SELECT nextval('index_outbox_id_seq')", /nextval\(\) is not allowed: it is VOLATILE/],
  ["SELECT (SELECT setval('index_outbox_id_seq', 1))", /setval\(\) is not allowed/],
  ["SELECT lo_import('/etc/passwd')", /lo_import\(\) is not allowed/],
  ["SELECT dblink('host=evil', 'DELETE FROM agents')", /function dblink\(\) does not exist|dblink\(\) is not allowed/],
  ["SELECT pg_read_file('/etc/passwd')", /pg_read_file\(\) is not allowed/],
  ["SELECT pg_ls_dir('.')", /pg_ls_dir\(\) is not allowed/],
  ['SELECT pg_terminate_backend(pg_backend_pid())', /pg_terminate_backend\(\) is not allowed/],
  ['SELECT pg_cancel_backend(1)', /pg_cancel_backend\(\) is not allowed/],
  ['SELECT pg_advisory_lock(1)', /pg_advisory_lock\(\) is not allowed/],
  ["SELECT pg_notify('exemplar_index', 'x')", /pg_notify\(\) is not allowed/],
  ['SELECT txid_current()', /txid_current\(\) is not allowed: it assigns a transaction id/],
  ['SELECT pg_current_xact_id()', /pg_current_xact_id\(\) is not allowed/],
  ["SELECT table_to_xml('api_keys', true, false, '')", /table_to_xml\(\) is not allowed: it reads tables by name/],
  ["SELECT query_to_xml('SELECT * FROM api_keys', true, false, '')", /query_to_xml\(\) is not allowed/],
  ["SELECT schema_to_xml('public', true, false, '')", /schema_to_xml\(\) is not allowed/],
  ['SELECT * FROM pg_stat_get_activity(NULL)', /pg_stat_get_activity\(\) is not allowed/],
  ['SELECT random()', /random\(\) is not allowed: it is VOLATILE/],
  ["SELECT public.exemplar_content_hash('a', 'b')", /function public.exemplar_content_hash\(\) is not allowed: function names must not be schema-qualified/],
  ["SELECT exemplar_content_hash('a', 'b')", /exemplar_content_hash\(\) is not allowed: only built-in PostgreSQL functions/],
  ["SELECT exemplar_outbox_notify('x')", /only built-in PostgreSQL functions/],
  ['SELECT 1 OPERATOR(public.=) 1', /operator public.= is not allowed/],
  ['SELECT * FROM agents WHERE id = $1', /query parameters/],
];

/** Each parses as one harmless SELECT: it may run or fail, but it changes nothing and shows no other agent. */
const HARMLESS: string[] = [
  'SELECT 1 -- ; DROP TABLE agents',
  '/* /* nested */ DROP TABLE agents; */ SELECT 1',
  'SELECT $$; DROP TABLE agents; $$',
  "SELECT E'\\'; DROP TABLE agents; --'",
  "SELECT U&'\\0027; DROP TABLE agents; --'",
  'SELECT * FROM U&"\\0061gents"',
  'SELECT 1;',
  "SELECT current_setting('exemplar.agent_ids')",
  "SELECT * FROM agents WHERE id = 'B'",
  "SELECT * FROM training_examples WHERE agent_id = 'B'",
  "WITH t AS (SELECT * FROM training_examples) SELECT * FROM t WHERE agent_id = 'B'",
  "SELECT (SELECT name FROM agents WHERE id = 'B')",
  'SELECT * FROM agents a JOIN training_examples t ON t.agent_id = a.id',
  'SELECT * FROM agents a LEFT JOIN audit_log l ON true',
  // If the agent filter ran after the query's own condition, these would leak B's prompt in an
  // error message, or tell by an error that B's row exists.
  "SELECT * FROM training_examples WHERE CASE WHEN agent_id = 'B' THEN (prompt)::int = 1 ELSE false END",
  "SELECT * FROM training_examples WHERE 1 / (CASE WHEN prompt LIKE 'HIDDEN%' THEN 0 ELSE 1 END) = 1",
  "SELECT * FROM audit_log WHERE (details->>'note')::int > 0",
  'SELECT * FROM run_examples',
  'SELECT * FROM prompt_versions UNION ALL SELECT * FROM prompt_versions',
  'SELECT * FROM prompt_labels NATURAL JOIN prompt_versions',
  'SELECT * FROM fine_tuning_runs',
  'TABLE agents',
  'VALUES (1), (2)',
  'EXPLAIN SELECT * FROM training_examples',
  "SELECT 'api_keys'::regclass",
  'SELECT NULL::api_keys',
  "SELECT to_regclass('api_keys')",
  "SELECT pg_get_viewdef('training_examples')",
  'SELECT current_user, session_user, version()',
  `SELECT xmlparse(document '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')`,
];

describe('the SQL gateway refuses', () => {
  it('at least 50 attack strings in all', () => {
    expect(REJECTED.length + HARMLESS.length).toBeGreaterThanOrEqual(50);
  });

  it.each(REJECTED)('%s', async (attack, reason) => {
    const sql = attack.replaceAll("'B'", `'${B.id}'`);
    const before = await snapshot(t.app);
    const state = await sessionState();
    for (const scope of ['all', [A.id]] as SqlScope[]) {
      const err = await run(sql, scope).then(
        (r) => r,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SqlRejectedError);
      expect((err as Error).message).toMatch(reason);
      expect((err as SqlRejectedError).toJSON()).toMatchObject({ code: 'sql_rejected' });
    }
    expect(await snapshot(t.app)).toEqual(before);
    expect(await sessionState()).toEqual(state);
  });
});

describe('the SQL gateway runs harmless SQL read-only', () => {
  it.each(HARMLESS)('%s', async (attack) => {
    const sql = attack.replaceAll("'B'", `'${B.id}'`);
    const before = await snapshot(t.app);
    const state = await sessionState();
    for (const scope of ['all', [A.id]] as SqlScope[]) {
      const outcome = await run(sql, scope).then(
        (r) => r,
        (e: unknown) => e,
      );
      if (outcome instanceof Error) expect(outcome).toBeInstanceOf(ExemplarError);
      const seen = outcome instanceof Error ? outcome.message : JSON.stringify(outcome);
      for (const secret of OFF_LIMITS) expect(seen).not.toContain(secret);
      if (scope !== 'all') {
        for (const secret of B_SECRETS) expect(seen).not.toContain(secret);
        if (!(outcome instanceof Error)) expect(seen).not.toContain(B.id);
      }
      expect(seen).not.toContain('root:');
    }
    expect(await snapshot(t.app)).toEqual(before);
    expect(await sessionState()).toEqual(state);
  });
});

describe('runReadOnlySql', () => {
  it('runs joins, CTEs and aggregates', async () => {
    const r = await run(
      `WITH s AS (SELECT agent_id, count(*) AS n, avg(reward_score) AS mean FROM training_examples GROUP BY agent_id)
       SELECT a.name, s.n, round(s.mean::numeric, 2) AS mean FROM agents a JOIN s ON s.agent_id = a.id ORDER BY a.name`,
    );
    expect(r).toMatchObject({
      columns: ['name', 'n', 'mean'],
      rows: [
        { name: 'alpha', n: 2, mean: 0.55 },
        { name: 'hidden-beta', n: 2, mean: 0.55 },
      ],
      rowCount: 2,
      truncated: false,
    });
    expect(r.ms).toBeGreaterThanOrEqual(0);
  });

  it('returns values as JSON, the same on every database, and keeps repeated column names apart', async () => {
    const r = await run(
      `SELECT a.id, t.id, t.metadata, t.reward_score, t.example_type, t.created_at, NULL AS nothing
         FROM agents a JOIN training_examples t ON t.agent_id = a.id WHERE a.name = 'alpha' AND t.reward_score > 0.5`,
    );
    expect(r.columns).toEqual(['id', 'id_2', 'metadata', 'reward_score', 'example_type', 'created_at', 'nothing']);
    expect(r.rows[0]).toMatchObject({ id: A.id, metadata: { source: 'test' }, reward_score: 0.9, example_type: 'positive', nothing: null });
    expect(typeof r.rows[0].created_at).toBe('string');
  });

  it('runs in a read-only transaction with the time limit', async () => {
    const r = await run(`SELECT current_setting('transaction_read_only') AS ro, current_setting('statement_timeout') AS timeout`, 'all', {
      timeoutMs: 1234,
    });
    expect(r.rows).toEqual([{ ro: 'on', timeout: '1234ms' }]);
  });

  it('caps the rows and says so', async () => {
    // The embedded database's time limit is not what this is about: a busy test machine may hit it.
    const run = (sql: string, scope: SqlScope, extra: Omit<RunSqlOptions, 'agentIds'> = {}) => runOnce(sql, scope, { embeddedMaxMs: 60_000, ...extra });
    const capped = await run('SELECT g FROM generate_series(1, 50) g', 'all', { rowLimit: 10 });
    expect(capped).toMatchObject({ rowCount: 10, truncated: true });
    expect(capped.rows.map((r) => r.g)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await run('SELECT g FROM generate_series(1, 50) g', 'all', { rowLimit: 50 })).toMatchObject({ rowCount: 50, truncated: false });
    expect(await run('SELECT g FROM generate_series(1, 501) g', 'all')).toMatchObject({ rowCount: 500, truncated: true, truncatedBy: 'rows' });
    const explained = await run('EXPLAIN SELECT * FROM agents a JOIN training_examples t ON t.agent_id = a.id', 'all', { rowLimit: 1 });
    expect(explained).toMatchObject({ columns: ['QUERY PLAN'], rowCount: 1, truncated: true });
  });

  it('stops a slow query with a clear error, and the database stays usable', async () => {
    const err = await run('SELECT count(*) FROM generate_series(1, 100000000)', 'all', { timeoutMs: 500, embeddedMaxMs: 500 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqlTimeoutError);
    expect((err as Error).message).toMatch(/(ran|would run) longer than 500 ms/);
    expect((await run('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it("returns the database's message for a query it refuses", async () => {
    const err = await run('SELECT nope FROM agents').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqlQueryError);
    expect((err as Error).message).toMatch(/column "nope" does not exist/);
    expect((err as SqlQueryError).details).toMatchObject({ sqlState: '42703' });
    const cast = await run("SELECT 'x'::int").catch((e: unknown) => e);
    expect((cast as Error).message).toMatch(/invalid input syntax for type integer/);
  });

  it('validates its options', async () => {
    await expect(run('SELECT 1', 'all', { rowLimit: 0 })).rejects.toThrow(ValidationError);
    await expect(run('SELECT 1', 'all', { rowLimit: 10_001 })).rejects.toThrow(/rowLimit: must be an integer from 1 to 10000/);
    await expect(run('SELECT 1', 'all', { timeoutMs: -1 })).rejects.toThrow(/timeoutMs/);
    await expect(run('SELECT 1', ["x'; DROP TABLE agents; --"])).rejects.toThrow(/agentIds: must be agent UUIDs/);
  });
});

describe('run_sql result size', () => {
  const MB = 1024 * 1024;

  it('stops at the last whole row under the byte limit, and says so', async () => {
    // Each row is its JSON, [["s"],["xxx..."]]: a little over 50 KB.
    const r = await run("SELECT repeat('x', 51200) AS s FROM generate_series(1, 100)", 'all', { maxResultBytes: 250 * 1024, embeddedMaxMs: 5000 });
    expect(r).toMatchObject({ rowCount: 4, truncated: true, truncatedBy: 'bytes' });
    expect((r.rows[0].s as string).length).toBe(51200);
    const rows = await run('SELECT g FROM generate_series(1, 50) g ORDER BY g DESC', 'all', { rowLimit: 3 });
    expect(rows).toMatchObject({ rows: [{ g: 50 }, { g: 49 }, { g: 48 }], truncated: true, truncatedBy: 'rows' });
    expect(await run('SELECT 1 AS one')).not.toHaveProperty('truncatedBy');
  });

  it('refuses with 413 naming the limit when not even one row fits', async () => {
    const err = await run("SELECT repeat('x', 2048) AS s", 'all', { maxResultBytes: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqlResultTooLargeError);
    expect(err).toMatchObject({ status: 413, code: 'sql_result_too_large' });
    expect((err as Error).message).toMatch(/result size limit of 1000 bytes \(EXEMPLAR_SQL_MAX_RESULT_BYTES\)/);
  });

  it('never holds more than the limit: big rows with rowLimit 10000 stay near the 10 MB default', async () => {
    // PGlite builds strings of at most 64 KB (see refuseHiddenWork): 20000 of them are 1.3 GB.
    const [size, count] = TEST_DB === 'pglite' ? [65_536, 20_000] : [1_048_576, 2000];
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const outcome = await run(`SELECT repeat('x', ${size}) AS s FROM generate_series(1, ${count})`, 'all', { rowLimit: 10_000, embeddedMaxMs: 60_000 });
      expect(outcome).toMatchObject({ truncated: true, truncatedBy: 'bytes' });
      expect(outcome.rowCount).toBeLessThanOrEqual((10 * MB) / size);
    } finally {
      clearInterval(timer);
    }
    // Without the cap this is 2 GB of rows in the process.
    expect(Math.max(peak, process.memoryUsage().rss) - before).toBeLessThan(400 * MB);
  });
});

describe.runIf(TEST_DB === 'pglite')('the embedded database refuses work its planner cannot see', () => {
  const refused: [string, RegExp][] = [
    // The freeze: 29 s on one thread, every other request waiting.
    ['SELECT count(*) FROM generate_series(1, (SELECT 100000000))', /generate_series\(\) needs constant arguments here: on the embedded database \(PGlite\), which cannot stop a running query/],
    ['SELECT count(*) FROM (VALUES (100000000)) v(n), generate_series(1, v.n)', /generate_series\(\) needs constant arguments/],
    ['SELECT generate_series(1, sum(100000)) FROM agents', /generate_series\(\) needs constant arguments/],
    ['SELECT count(*) FROM jsonb_array_elements((SELECT jsonb_agg(g) FROM generate_series(1, 10) g))', /jsonb_array_elements\(\) needs constant arguments/],
    ["SELECT count(*) FROM generate_series('2000-01-01'::timestamp, '2001-01-01', '1 hour')", /makes more than 1000 rows, the number the planner assumes/],
    ["SELECT length(repeat(prompt, 100000)) FROM training_examples", /repeat\(\) takes a string literal and an integer literal here, for a result of at most 65536 bytes/],
    ["SELECT lpad('x', 100000000)", /lpad\(\) takes an integer literal as its length/],
    ['SELECT array_fill(0, ARRAY[100000000])', /array_fill\(\) is not allowed on the embedded database/],
    ['SELECT count(*) FROM generate_series(1, 3000000)', /would run longer than 50 ms, the most one query may hold the embedded database \(EXEMPLAR_SQL_EMBEDDED_MAX_MS\)/],
    // 5.5 s and 3.9 s on PGlite, computed while planning: refused from the parse tree alone.
    ['SELECT factorial(20000)', /factorial\(\) takes a number literal of at most 1000 here/],
    ['SELECT length((2::numeric ^ 400000)::text)', /the exponent of \^ takes a number literal of at most 1000/],
    ['SELECT power(2::numeric, reward_score * 100000) FROM training_examples', /power\(\)'s exponent takes a number literal/],
  ];
  it.each(refused)('%s', async (sql, reason) => {
    const started = performance.now();
    const err = await run(sql).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExemplarError);
    expect((err as Error).message).toMatch(reason);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('stops reading rows at its time limit, with the rows so far', async () => {
    const r = await run('SELECT g, md5(g::text) AS h FROM generate_series(1, 10000) g', 'all', { rowLimit: 10_000, embeddedMaxMs: 20, maxResultBytes: 100 * 1024 * 1024 }).catch((e: unknown) => e);
    // The plan is cheap (the planner's estimate passes); reading 10000 rows is not.
    expect(r).toMatchObject({ truncated: true, truncatedBy: 'time' });
    expect((r as SqlResult).rowCount).toBeGreaterThan(0);
    expect((r as SqlResult).rows[0]).toMatchObject({ g: 1 });
  });

  it('still runs what it can count', async () => {
    expect((await run("SELECT count(*)::int AS n FROM generate_series(now() - interval '30 days', now(), interval '1 day')")).rows).toEqual([{ n: 31 }]);
    expect((await run('SELECT count(*)::int AS n FROM generate_series(1, 20000)')).rows).toEqual([{ n: 20000 }]);
    // Parentheses and quotes inside the arguments do not confuse the count.
    expect((await run("SELECT * FROM regexp_split_to_table('a)b(c', /* ) */ '[)(]') AS x")).rows).toEqual([{ x: 'a' }, { x: 'b' }, { x: 'c' }]);
    expect((await run("SELECT count(*)::int AS n FROM jsonb_array_elements('[1, 2, 3]')")).rows).toEqual([{ n: 3 }]);
    expect((await run('SELECT factorial(10)::int AS f, power(2, 10)::int AS p, (2 ^ 3)::int AS q, (2 ^ -1.5)::float8 < 1 AS r')).rows).toEqual([
      { f: 3628800, p: 1024, q: 8, r: true },
    ]);
    expect((await run("SELECT unnest(ARRAY[1, 2]) AS x, lpad('7', 3, '0') AS y, repeat('-', 3) AS z")).rows).toEqual([
      { x: 1, y: '007', z: '---' },
      { x: 2, y: '007', z: '---' },
    ]);
  });
});

describe.runIf(TEST_DB === 'postgres')('on PostgreSQL the same queries run under statement_timeout', () => {
  it('stops the hidden-size series at its time limit', async () => {
    const err = await run('SELECT count(*) FROM generate_series(1, (SELECT 100000000))', 'all', { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqlTimeoutError);
    expect((await run("SELECT count(*)::int AS n FROM generate_series('2000-01-01'::timestamp, '2000-01-02', '1 hour')")).rows).toEqual([{ n: 25 }]);
  });
});

describe('set operations', () => {
  it('run a CTE inside a UNION branch', async () => {
    expect((await run('SELECT 1 AS a UNION ALL (WITH x AS (SELECT 2 AS a) SELECT a FROM x) ORDER BY a')).rows).toEqual([{ a: 1 }, { a: 2 }]);
    expect((await run('(WITH x AS (SELECT 2 AS a) SELECT a FROM x) UNION (WITH y AS (SELECT 3 AS a) SELECT a FROM y) ORDER BY a')).rows).toEqual([
      { a: 2 },
      { a: 3 },
    ]);
    // A branch's CTE is its own: the other branch does not see it.
    await expect(run('SELECT a FROM x UNION ALL (WITH x AS (SELECT 2 AS a) SELECT a FROM x)')).rejects.toThrow(/table x is not readable/);
  });
});

describe('SqlLimiter', () => {
  it('refuses a query beyond the per-key and the overall limits with 429, and frees slots', async () => {
    const limiter = new SqlLimiter({ overall: 2, perKey: 1 });
    const a = limiter.acquire('a');
    expect(() => limiter.acquire('a')).toThrow(/this key already has 1 SQL query running.*EXEMPLAR_SQL_MAX_CONCURRENT_PER_KEY=1/);
    const b = limiter.acquire('b');
    const busy = (() => {
      try {
        limiter.acquire('c');
      } catch (e) {
        return e;
      }
    })();
    expect(busy).toBeInstanceOf(SqlBusyError);
    expect(busy).toMatchObject({ status: 429, code: 'sql_busy' });
    expect((busy as Error).message).toMatch(/2 SQL queries are running.*EXEMPLAR_SQL_MAX_CONCURRENT=2/);
    a();
    a(); // a second call changes nothing
    const again = limiter.acquire('a');
    expect(() => limiter.acquire('c')).toThrow(SqlBusyError);
    again();
    b();
    limiter.acquire('c')();
  });

  it('makes the next query wait as long as the last one ran, when asked to (PGlite)', async () => {
    const limiter = new SqlLimiter({ overall: 1, perKey: 1, pauseAfterQuery: true });
    const release = await limiter.enter('a');
    await new Promise((r) => setTimeout(r, 60));
    release();
    const t = performance.now();
    (await limiter.enter('b'))();
    expect(performance.now() - t).toBeGreaterThanOrEqual(50);
  });
});

describe('scoped runs', () => {
  const tables = ['agents', 'training_examples', 'prompt_versions', 'prompt_labels', 'fine_tuning_runs', 'run_examples', 'audit_log'];

  it("see only their agents' rows in every table", async () => {
    for (const table of tables) {
      const all = await run(`SELECT * FROM ${table}`);
      const scoped = await run(`SELECT * FROM ${table}`, [A.id]);
      expect(scoped.rowCount, table).toBeGreaterThan(0);
      expect(scoped.rowCount, table).toBeLessThan(all.rowCount);
      expect(JSON.stringify(scoped.rows), table).not.toContain(B.id);
      for (const secret of B_SECRETS) expect(JSON.stringify(scoped.rows), table).not.toContain(secret);
    }
    expect((await run('SELECT name FROM agents', [A.id])).rows).toEqual([{ name: 'alpha' }]);
    expect((await run('SELECT count(*) AS n FROM training_examples', [A.id])).rows).toEqual([{ n: 2 }]);
    const audit = await run('SELECT DISTINCT agent_id FROM audit_log', [A.id]);
    expect(audit.rows).toEqual([{ agent_id: A.id }]);
  });

  it('see only their agents through CTEs, subqueries, joins and set operations', async () => {
    const queries = [
      'WITH t AS (SELECT * FROM training_examples) SELECT DISTINCT agent_id FROM t',
      'SELECT DISTINCT agent_id FROM (SELECT * FROM training_examples) s',
      'SELECT DISTINCT t.agent_id FROM agents a RIGHT JOIN training_examples t ON t.agent_id = a.id',
      'SELECT DISTINCT agent_id FROM training_examples WHERE agent_id IN (SELECT id FROM agents UNION SELECT agent_id FROM audit_log)',
      'SELECT agent_id FROM training_examples UNION SELECT agent_id FROM prompt_versions UNION SELECT agent_id FROM fine_tuning_runs',
      'SELECT DISTINCT r.agent_id FROM run_examples x JOIN fine_tuning_runs r ON r.id = x.run_id',
      'WITH RECURSIVE ids(agent_id) AS (SELECT agent_id FROM audit_log WHERE agent_id IS NOT NULL) SELECT DISTINCT agent_id FROM ids',
    ];
    for (const sql of queries) {
      const outcome = await run(sql, [A.id]).catch((e: unknown) => e);
      // PGlite refuses WITH RECURSIVE (it cannot stop a running query); PostgreSQL runs it.
      if (outcome instanceof SqlRejectedError && TEST_DB === 'pglite') {
        expect(outcome.message).toMatch(/WITH RECURSIVE is not allowed on the embedded database/);
        continue;
      }
      expect((outcome as SqlResult).rows, sql).toEqual([{ agent_id: A.id }]);
    }
  });

  it('see nothing with no agents, and several agents when given several', async () => {
    expect((await run('SELECT * FROM training_examples', [])).rowCount).toBe(0);
    expect((await run('SELECT * FROM agents', [])).rowCount).toBe(0);
    expect((await run('SELECT count(*)::int AS n FROM agents', [A.id, B.id])).rows).toEqual([{ n: 2 }]);
  });
});

describe('describeSchema', () => {
  it('lists exactly the readable tables, with columns, types and comments', async () => {
    for (const scope of ['all', [A.id]] as SqlScope[]) {
      const { tables } = await describeSchema(t.app.db, scope);
      expect(tables.map((x) => x.name)).toEqual([...READABLE_TABLES]);
      const examples = tables.find((x) => x.name === 'training_examples')!;
      expect(examples.comment).toMatch(/Training examples/);
      expect(examples.columns.find((c) => c.name === 'reward_score')).toEqual({
        name: 'reward_score',
        type: 'double precision',
        nullable: false,
        comment: 'How good the completion is, 0 (bad) to 1 (good).',
      });
      expect(examples.columns.map((c) => c.name)).toContain('metadata');
    }
  });
});

describe('the run_sql and describe_schema operations', () => {
  const ctx = (access: Access): OperationContext => ({ app: t.app, actor: ACTOR, access });
  const call = async (name: string, input: Record<string, unknown>, access: Access = FULL_ACCESS) => {
    const op = findOperation(name)!;
    const output = await op.run(parseInput(op.input, input), ctx(access));
    const json = JSON.parse(JSON.stringify(output));
    expect(op.output.safeParse(json).success).toBe(true);
    return json;
  };

  it('run a query, with the caller key scope', async () => {
    expect(await call('run_sql', { sql: 'SELECT name FROM agents ORDER BY name', rowLimit: 1 })).toMatchObject({
      columns: ['name'],
      rows: [{ name: 'alpha' }],
      rowCount: 1,
      truncated: true,
    });
    const scopedKey: Access = { keyId: 'k', admin: false, read: new Set([A.id]), write: new Set() };
    expect((await call('run_sql', { sql: 'SELECT name FROM agents' }, scopedKey)).rows).toEqual([{ name: 'alpha' }]);
    const { tables } = await call('describe_schema', {}, scopedKey);
    expect(tables.map((x: { name: string }) => x.name)).toEqual([...READABLE_TABLES]);
    expect(() => parseInput(findOperation('run_sql')!.input, { sql: 'SELECT 1', rowLimit: 10_001 })).toThrow(/rowLimit/);
  });
});

describe('run_sql concurrency', () => {
  it("answers a key's second query at once with 429 while its first runs", async () => {
    const op = findOperation('run_sql')!;
    const key: Access = { keyId: 'busy-key', admin: true, read: new Set(), write: new Set() };
    const ctx: OperationContext = { app: t.app, actor: ACTOR, access: key };
    const first = op.run(parseInput(op.input, { sql: 'SELECT count(*) FROM generate_series(1, 20000)' }), ctx);
    const second = await op.run(parseInput(op.input, { sql: 'SELECT 1' }), ctx).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(SqlBusyError);
    expect((second as Error).message).toMatch(/EXEMPLAR_SQL_MAX_CONCURRENT/);
    await first;
    // The slot is free again once the first is done (after PGlite's pause).
    await expect(op.run(parseInput(op.input, { sql: 'SELECT 1 AS one' }), ctx)).resolves.toMatchObject({ rows: [{ one: 1 }] });
  });
});

describe('run_sql auditing', () => {
  it('records every statement that reached the database, and none that were refused', async () => {
    const { invoke } = await import('../../src/operations/invoke.ts');
    const { findOperation } = await import('../../src/operations/registry.ts');
    const { FULL_ACCESS } = await import('../../src/access/access.ts');
    const env = await openTestApp();
    try {
      const ctx = { app: env.app, actor: 'key:test-key-id', access: FULL_ACCESS };
      await invoke(findOperation('run_sql')!, { sql: 'SELECT 42 AS answer' }, ctx);
      await invoke(findOperation('run_sql')!, { sql: 'DELETE FROM agents' }, ctx).catch(() => {});
      const { rows } = await env.app.db.query<{ actor: string; details: { sql: string; ok: boolean } }>(
        `SELECT actor, details FROM audit_log WHERE action = 'sql.query' ORDER BY id`,
      );
      expect(rows.map((r) => [r.actor, r.details.sql, r.details.ok])).toEqual([['key:test-key-id', 'SELECT 42 AS answer', true]]);
      // A long statement is kept as its start, its length and the hash of the whole.
      const long = `SELECT 1 AS x /* ${'🦀'.repeat(3000)} */`;
      await invoke(findOperation('run_sql')!, { sql: long }, ctx);
      const last = await env.app.db.query<{ details: { sql: string; sqlSha256: string; sqlLength: number } }>(
        `SELECT details FROM audit_log WHERE action = 'sql.query' ORDER BY id DESC LIMIT 1`,
      );
      const { details } = last.rows[0];
      expect(details.sql.length).toBeLessThanOrEqual(2000);
      expect(long.startsWith(details.sql)).toBe(true);
      expect(details.sqlLength).toBe(long.length);
      expect(details.sqlSha256).toBe(createHash('sha256').update(long).digest('hex'));
    } finally {
      await env.close();
    }
  });
});
