import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { Exemplar } from '../../src/exemplar.ts';
import { ACTOR, cliEnv, TEST_DB } from '../support/app.ts';

// Issue 13, item 4: two `exemplar serve` processes on one PostgreSQL schema, each with its own
// in-memory index (forced: the server may or may not have pgvector), stay in step through the feed.

interface Replica {
  name: string;
  url: string;
  child: ChildProcess;
}

const BIN = path.resolve('bin/exemplar.js');
let env: Record<string, string>;
let closeEnv: () => Promise<void>;
let setup: Exemplar;
let key: string;
let agentId: string;
let a: Replica;
let b: Replica;
const dirs: string[] = [];

async function startReplica(name: string): Promise<Replica> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `exemplar-replica-${name}-`));
  dirs.push(dir);
  const port = 21_000 + Math.floor(Math.random() * 4000);
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
    env: { ...process.env, ...env, EXEMPLAR_DATA_DIR: dir, EXEMPLAR_VECTOR_BACKEND: 'memory' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('serving')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`replica ${name} exited with ${code}: ${stderr}`)));
  });
  return { name, url: `http://127.0.0.1:${port}`, child };
}

async function call<T>(r: Replica, method: string, route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${r.url}${route}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${route} on ${r.name}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

interface SearchResult {
  results: { id: string; input: string; score: number }[];
}
const search = (r: Replica, query: string, extra: Record<string, unknown> = {}) =>
  call<SearchResult>(r, 'POST', '/v1/agents/replicated/search', { query, topK: 5, ...extra });

interface StatusItem {
  agentName: string;
  count: number | null;
  examples: number;
  lagChanges: number;
  consumers: { id: string; role: string; self: boolean; lagChanges: number }[];
}
const status = async (r: Replica) =>
  (await call<{ items: StatusItem[] }>(r, 'GET', '/v1/index/status')).items.find((i) => i.agentName === 'replicated')!;

/** Polls until `check` passes, and returns how long that took; fails past `ms`. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return performance.now() - t0;
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

describe.runIf(TEST_DB === 'postgres')('two replicas on one PostgreSQL', () => {
  beforeAll(async () => {
    ({ env, close: closeEnv } = await cliEnv());
    setup = await Exemplar.open(loadConfig({ ...env, EXEMPLAR_VECTOR_BACKEND: 'memory', EXEMPLAR_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-replica-setup-')) }));
    agentId = (await setup.agents.create({ name: 'replicated' }, ACTOR)).id;
    await setup.examples.addMany(
      'replicated',
      ['parse a csv file', 'reverse a list', 'read json from disk', 'sort a dict by value'].map((prompt) => ({
        prompt, completion: 'c', rewardScore: 0.8, exampleType: 'positive' as const, metadata: {},
      })),
      ACTOR,
    );
    key = (await setup.apiKeys.create({ name: 'replicas', scopes: ['admin'] }, ACTOR)).key;
    [a, b] = await Promise.all([startReplica('a'), startReplica('b')]);
    // Each replica loads its index on its first search.
    await Promise.all([search(a, 'warm up'), search(b, 'warm up')]);
  }, 120_000);

  afterAll(async () => {
    for (const r of [a, b]) {
      if (!r) continue;
      r.child.kill('SIGCONT');
      r.child.kill('SIGTERM');
      await new Promise((res) => r.child.exitCode === null ? r.child.once('exit', res) : res(null));
    }
    await setup?.close();
    await closeEnv?.();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('an example added through replica A\'s REST is in replica B\'s search within a second', async () => {
    const prompt = 'configure nginx as a reverse proxy';
    await call(a, 'POST', '/v1/agents/replicated/examples', { prompt, completion: 'c', rewardScore: 0.9, exampleType: 'positive' });
    await within(1000, async () => (await search(b, prompt)).results[0]?.input === prompt);
  });

  it('an example inserted with psql is in both replicas\' search within a second', async () => {
    const prompt = 'inserted by psql behind both replicas';
    const r = spawnSync('psql', [env.DATABASE_URL, '-v', 'ON_ERROR_STOP=1', '-c',
      `SET search_path = ${env.EXEMPLAR_DB_SCHEMA}; INSERT INTO training_examples (agent_id, prompt, completion, reward_score, example_type) VALUES ('${agentId}', '${prompt}', 'c', 0.9, 'positive')`,
    ], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    for (const replica of [a, b]) await within(1000, async () => (await search(replica, prompt)).results[0]?.input === prompt);
  });

  it('a reward update made on A reaches B\'s index within a second', async () => {
    // Below min_score, B's index filters the example out; only an applied update lets it in
    // (the database re-check after the scan could not add a row the scan never proposed).
    const prompt = 'tune postgres autovacuum for a busy table';
    const added = await call<{ id: string }>(a, 'POST', '/v1/agents/replicated/examples', { prompt, completion: 'c', rewardScore: 0.1, exampleType: 'positive' });
    await within(1000, async () => (await status(b)).count === (await status(b)).examples);
    expect((await search(b, prompt, { minScore: 0.5 })).results.map((x) => x.id)).not.toContain(added.id);
    await call(a, 'PATCH', `/v1/examples/${added.id}`, { rewardScore: 0.95 });
    await within(1000, async () => {
      const top = (await search(b, prompt, { minScore: 0.5 })).results[0];
      return top?.id === added.id && top.score === 0.95;
    });
  });

  it('a delete made on A leaves B\'s index within a second', async () => {
    const { results } = await search(a, 'reverse a list');
    const victim = results.find((x) => x.input === 'reverse a list')!;
    const before = (await status(b)).count!;
    await call(a, 'POST', '/v1/examples/delete', { ids: [victim.id] });
    await within(1000, async () => (await status(b)).count === before - 1);
    expect((await search(b, 'reverse a list')).results.map((x) => x.id)).not.toContain(victim.id);
  });

  it('MCP 2026-07-28 calls alternating between the replicas through a round-robin proxy give identical results', async () => {
    let turn = 0;
    const hits = { a: 0, b: 0 };
    const proxy = http.createServer((req, res) => {
      const target = new URL(turn++ % 2 === 0 ? a.url : b.url);
      hits[target.href === new URL(a.url).href ? 'a' : 'b']++;
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
    const port = (proxy.address() as { port: number }).port;
    const client = new Client({ name: 'replica-test', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
      // A write through the proxy lands on one replica; the searches that follow alternate.
      const prompt = 'stream a large file in chunks';
      await client.callTool({ name: 'add_example', arguments: { agent: 'replicated', prompt, completion: 'c', rewardScore: 0.85, exampleType: 'positive' } });
      const answers: string[] = [];
      await within(1000, async () => {
        const r = await client.callTool({ name: 'search_examples', arguments: { agent: 'replicated', query: prompt, topK: 3 } });
        answers.push(JSON.stringify(r.structuredContent));
        return (r.structuredContent as SearchResult).results[0]?.input === prompt;
      });
      const settled: string[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await client.callTool({ name: 'search_examples', arguments: { agent: 'replicated', query: prompt, topK: 3 } });
        settled.push(JSON.stringify(r.structuredContent));
      }
      expect(new Set(settled).size).toBe(1);
      expect(JSON.parse(settled[0]).results[0].input).toBe(prompt);
      expect(hits.a).toBeGreaterThanOrEqual(3);
      expect(hits.b).toBeGreaterThanOrEqual(3);
    } finally {
      await client.close();
      await new Promise((res) => proxy.close(res));
    }
  });

  it('index status on each replica tells the truth, including while the other is behind', async () => {
    for (const r of [a, b]) {
      await within(2000, async () => {
        const s = await status(r);
        return s.count === s.examples && s.lagChanges === 0 && s.consumers.length === 2 && s.consumers.every((c) => c.lagChanges === 0);
      });
      const s = await status(r);
      expect(s.consumers.filter((c) => c.self)).toHaveLength(1);
      expect(s.consumers.map((c) => c.role)).toEqual(['serve', 'serve']);
    }
    // B freezes (a long GC pause, a stuck event loop): it is still live, and behind.
    b.child.kill('SIGSTOP');
    try {
      await call(a, 'POST', '/v1/agents/replicated/examples', { prompt: 'written while b is frozen', completion: 'c', rewardScore: 0.7, exampleType: 'positive' });
      await within(1000, async () => {
        const s = await status(a);
        return s.consumers.find((c) => c.self)!.lagChanges === 0 && s.consumers.find((c) => !c.self)!.lagChanges === 1;
      });
      expect((await status(a)).lagChanges).toBe(1);
    } finally {
      b.child.kill('SIGCONT');
    }
    await within(2000, async () => (await status(a)).lagChanges === 0 && (await status(b)).lagChanges === 0);
    expect((await status(b)).count).toBe((await status(b)).examples);
  });
});
