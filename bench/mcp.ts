import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { loadConfig } from '../src/config/config.ts';
import { Exemplar } from '../src/exemplar.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { fmt, percentile, startServer, syntheticJsonl } from './support.ts';

const BIN = path.resolve('bin/exemplar.js');

/** Issue 4's figures: search_examples over HTTP with 16 concurrent clients, and one stdio round trip. */
export async function benchMcp(n = 10_000, clients = 16, seconds = 8): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exemplar-bench-mcp-'));
  // No rate limit: this measures how many searches one server answers, from one key.
  const env = { ...process.env, EXEMPLAR_DATA_DIR: dir, DATABASE_URL: '', EXEMPLAR_RATE_LIMIT_SEARCH: '0' } as Record<string, string>;
  try {
    // Prepare the data, then let the server process own the embedded database.
    const app = await Exemplar.open(loadConfig(env));
    await app.agents.create({ name: 'bench' }, 'bench');
    await importExamples(app.examples, 'bench', syntheticJsonl(n), 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
    await app.syncTrainingDataToVectorStore('bench');
    const key = (await app.apiKeys.create({ scopes: ['admin'] }, 'bench')).key;
    const readKey = (await app.apiKeys.create({ scopes: ['read:bench'] }, 'bench')).key;
    await app.close();

    const server = await startServer(env);
    console.log(`\n## MCP and REST (PGlite, server in its own process)`);
    try {
      await toolListSizes(`${server.url}/mcp`, { admin: key, 'read:bench': readKey });
      console.log(`\n### search_examples under load (${fmt(n, 0)} examples, ${clients} concurrent clients for ${seconds} s each)`);
      console.log('| transport | protocol | calls/s | p50 | p99 |');
      console.log('|---|---|---|---|---|');
      for (const version of ['2025-11-25', '2026-07-28'] as const) {
        const r = await httpLoad(`${server.url}/mcp`, key, version, clients, seconds);
        console.log(`| MCP Streamable HTTP, search_examples | ${version} | ${fmt(r.rate, 0)} | ${fmt(r.p50, 1)} ms | ${fmt(r.p99, 1)} ms |`);
      }
      const rest = await restLoad(`${server.url}/v1/agents/bench/search`, key, clients, seconds);
      console.log(`| REST, POST /v1/agents/{agent}/search | - | ${fmt(rest.rate, 0)} | ${fmt(rest.p50, 1)} ms | ${fmt(rest.p99, 1)} ms |`);
    } finally {
      await server.stop();
    }
    const stdio = await stdioRoundTrip(env);
    console.log(`| stdio, one tool call (get_agent) round trip, sequential | 2025-11-25 | ${fmt(1000 / stdio.p50, 0)} | ${fmt(stdio.p50, 2)} ms | ${fmt(stdio.p99, 2)} ms |`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function client(version: '2025-11-25' | '2026-07-28'): Client {
  const info = { name: 'bench', version: '1' };
  return version === '2026-07-28' ? new Client(info, { versionNegotiation: { mode: { pin: version } } }) : new Client(info);
}

async function httpLoad(url: string, key: string, version: '2025-11-25' | '2026-07-28', clients: number, seconds: number) {
  const all: number[] = [];
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const mcp = client(version);
      await mcp.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const r = await mcp.callTool({ name: 'search_examples', arguments: { agent: 'bench', query: `retry on failure in python ${c} ${i}`, minScore: 0.5, topK: 10, exampleType: 'positive' } });
        if (r.isError) throw new Error(JSON.stringify(r.content));
        all.push(performance.now() - t);
      }
      await mcp.close();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  all.sort((a, b) => a - b);
  return { rate: all.length / secs, p50: percentile(all, 50), p99: percentile(all, 99) };
}

/** The same search through the REST door, with keep-alive connections. */
async function restLoad(url: string, key: string, clients: number, seconds: number) {
  const all: number[] = [];
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ query: `retry on failure in python ${c} ${i}`, minScore: 0.5, topK: 10, exampleType: 'positive' }),
        });
        if (!res.ok) throw new Error(await res.text());
        await res.json();
        all.push(performance.now() - t);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  all.sort((a, b) => a - b);
  return { rate: all.length / secs, p50: percentile(all, 50), p99: percentile(all, 99) };
}

async function stdioRoundTrip(env: Record<string, string>) {
  const mcp = client('2025-11-25');
  await mcp.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], env, stderr: 'ignore' }));
  const times: number[] = [];
  try {
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      await mcp.callTool({ name: 'get_agent', arguments: { agent: 'bench' } });
      if (i >= 20) times.push(performance.now() - t); // after warm-up
    }
  } finally {
    await mcp.close();
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/**
 * What tools/list costs a model before any work: the result's JSON (tools with their schemas), in
 * bytes, as a client passes it on. Each key sees only the tools it may call.
 */
async function toolListSizes(url: string, keys: Record<string, string>): Promise<void> {
  console.log('| tools/list for a key | tools | bytes of JSON |');
  console.log('|---|---|---|');
  for (const [scope, key] of Object.entries(keys)) {
    const mcp = client('2025-11-25');
    await mcp.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    try {
      const listed = await mcp.listTools();
      console.log(`| ${scope} | ${listed.tools.length} | ${fmt(JSON.stringify(listed).length, 0)} |`);
    } finally {
      await mcp.close();
    }
  }
}
