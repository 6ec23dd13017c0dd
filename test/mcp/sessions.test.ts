import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let server: RunningServer;
let key: string;
let otherKey: string;
beforeAll(async () => {
  t = await openTestApp({ mcpSessionsPerKey: 2 });
  await t.app.agents.create({ name: 'sessions' }, ACTOR);
  key = (await t.app.apiKeys.create({ scopes: ['read:sessions'] }, ACTOR)).key;
  otherKey = (await t.app.apiKeys.create({ scopes: ['read:sessions'] }, ACTOR)).key;
  server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  vi.restoreAllMocks();
  await server.close();
  await t.close();
});

async function session(bearer: string): Promise<Client> {
  const c = new Client({ name: 'sessions-test', version: '1' }, { supportedProtocolVersions: ['2025-11-25'] });
  await c.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }));
  return c;
}

describe('MCP sessions per key', () => {
  it('refuses a session past EXEMPLAR_MCP_SESSIONS_PER_KEY while the others are in use, and lets an idle one give way', async () => {
    const first = await session(key);
    const second = await session(key);
    await expect(session(key)).rejects.toThrow(/EXEMPLAR_MCP_SESSIONS_PER_KEY=2/);
    const other = await session(otherKey); // another key's sessions are its own
    await other.close();

    // A minute later, with neither used since, the least recently used session makes room.
    await second.listTools();
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    const third = await session(key);
    vi.restoreAllMocks();
    await expect(first.listTools()).rejects.toThrow(); // the one that gave way
    expect((await second.listTools()).tools.length).toBeGreaterThan(0);
    expect((await third.listTools()).tools.length).toBeGreaterThan(0);
    await Promise.all([second.close(), third.close(), first.close().catch(() => {})]);
  });
});
