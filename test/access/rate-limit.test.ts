import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FULL_ACCESS } from '../../src/access/access.ts';
import { RateLimitedError, RateLimiter } from '../../src/access/rate-limit.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { invoke } from '../../src/operations/invoke.ts';
import { findOperation } from '../../src/operations/registry.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

describe('RateLimiter', () => {
  it('lets ten seconds of calls through at once, then refills at the per-minute rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ search: 60, heavy: 0 }, () => now);
    for (let i = 0; i < 10; i++) limiter.take('k1', 'search'); // 60 a minute: a bucket of 10
    expect(() => limiter.take('k1', 'search')).toThrow(RateLimitedError);
    try {
      limiter.take('k1', 'search');
    } catch (err) {
      expect((err as RateLimitedError).details).toMatchObject({ limit: 60, variable: 'EXEMPLAR_RATE_LIMIT_SEARCH', retryAfterSeconds: 1 });
    }
    limiter.take('k2', 'search'); // another key has its own bucket
    now += 1000; // one more call a second
    limiter.take('k1', 'search');
    expect(() => limiter.take('k1', 'search')).toThrow(/limit of 60 a minute \(EXEMPLAR_RATE_LIMIT_SEARCH\); retry in 1 s/);
    now += 60_000; // a full bucket again, never more
    for (let i = 0; i < 10; i++) limiter.take('k1', 'search');
    expect(() => limiter.take('k1', 'search')).toThrow(RateLimitedError);
    for (let i = 0; i < 1000; i++) limiter.take('k1', 'heavy'); // 0: no limit
  });
});

describe('rate limits on the doors', () => {
  let t: TestEnv;
  let server: RunningServer;
  let key: string;
  let other: string;
  beforeAll(async () => {
    t = await openTestApp({ rateLimitSearch: 12 }); // a bucket of 2 searches
    await t.app.agents.create({ name: 'limited' }, ACTOR);
    await t.app.examples.add('limited', { prompt: 'reverse a list', completion: 'xs[::-1]', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    key = (await t.app.apiKeys.create({ scopes: ['read:limited'] }, ACTOR)).key;
    other = (await t.app.apiKeys.create({ scopes: ['read:limited'] }, ACTOR)).key;
    server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  const search = (bearer: string) =>
    fetch(`${server.url}/v1/agents/limited/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'reverse a list' }),
    });

  it('answers 429 with Retry-After once a key spends its budget, on REST and MCP, and never limits the CLI', async () => {
    expect((await search(key)).status).toBe(200);
    expect((await search(key)).status).toBe(200);
    const refused = await search(key);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(body.error).toMatchObject({ code: 'rate_limited', details: { limit: 12, variable: 'EXEMPLAR_RATE_LIMIT_SEARCH' } });
    expect((await search(other)).status).toBe(200); // the other key's budget is its own

    // The same budget on MCP: one process, one bucket per key, whatever the door.
    const mcp = new Client({ name: 'rate-test', version: '1' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    try {
      const r = await mcp.callTool({ name: 'search_examples', arguments: { agent: 'limited', query: 'reverse a list' } });
      expect(r.isError).toBe(true);
      expect(JSON.stringify(r.content)).toMatch(/EXEMPLAR_RATE_LIMIT_SEARCH/);
    } finally {
      await mcp.close();
    }

    // The CLI runs with the owner's access and no key: never limited.
    const op = findOperation('search_examples')!;
    for (let i = 0; i < 5; i++) await invoke(op, { agent: 'limited', query: 'reverse a list' }, { app: t.app, access: FULL_ACCESS, actor: 'cli' });
  });

  it('is configured by EXEMPLAR_RATE_LIMIT_SEARCH and EXEMPLAR_RATE_LIMIT_HEAVY, 0 for none', () => {
    expect(loadConfig({})).toMatchObject({ rateLimitSearch: 1200, rateLimitHeavy: 60 });
    expect(loadConfig({ EXEMPLAR_RATE_LIMIT_SEARCH: '0', EXEMPLAR_RATE_LIMIT_HEAVY: '30' })).toMatchObject({ rateLimitSearch: 0, rateLimitHeavy: 30 });
    expect(() => loadConfig({ EXEMPLAR_RATE_LIMIT_HEAVY: 'lots' })).toThrow(/EXEMPLAR_RATE_LIMIT_HEAVY/);
  });
});
