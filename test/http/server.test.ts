import http from 'node:http';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RequestLog, type RunningServer } from '../../src/http/server.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let server: RunningServer;
let key: string;
const logs: RequestLog[] = [];
beforeAll(async () => {
  t = await openTestApp();
  key = (await t.app.apiKeys.create({ scopes: ['admin'] }, ACTOR)).key;
  await t.app.agents.create({ name: 'served' }, ACTOR);
  await t.app.examples.add('served', { prompt: 'sort a list', completion: 'sorted(xs)', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
  server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0, log: (e) => logs.push(e) });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

describe('exemplar serve', () => {
  it('answers /healthz and /readyz', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('logs one JSON line per request with a request id and the key id, never the key', async () => {
    const res = await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${key}`, 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const own = await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${key}` } });
    expect(own.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const entry = logs.find((l) => l.requestId === 'trace-123')!;
    expect(entry).toMatchObject({ method: 'GET', path: '/v1/agents', status: 200, level: 'info' });
    expect(entry.keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(logs)).not.toContain(key);
  });

  it('exposes Prometheus metrics: request latency, operation (retrieval) latency, sync lag, cache ratio, tool calls', async () => {
    await fetch(`${server.url}/v1/agents/served/search`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'sort' }),
    });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(/exemplar_http_request_duration_seconds_bucket\{.*route="\/v1\/agents\/\{agent\}\/search".*\}/);
    expect(text).toMatch(/exemplar_operation_duration_seconds_count\{operation="search_examples",outcome="ok"\} 1/);
    expect(text).toContain('exemplar_sync_outbox_depth');
    expect(text).toContain('exemplar_sync_lag_seconds');
    expect(text).toContain('exemplar_embedding_cache_hit_ratio');
    expect(text).toContain('# TYPE exemplar_mcp_tool_calls_total counter');
  });

  it('compresses JSON answers for clients that take gzip or brotli, and nothing for those that do not', async () => {
    const raw = (encoding: string) =>
      new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        http.get(`${server.url}/openapi.json`, { headers: { 'accept-encoding': encoding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        }).on('error', reject);
      });
    const plain = await raw('identity');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await raw('gzip, deflate');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const br = await raw('gzip;q=0.5, br');
    expect(br.headers['content-encoding']).toBe('br');
    expect(zlib.brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    expect(br.body.length * 4).toBeLessThan(plain.body.length);
    expect((await raw('br;q=0, gzip;q=0')).headers['content-encoding']).toBeUndefined();
  });

  it('documents the API at /docs', async () => {
    const html = await (await fetch(`${server.url}/docs`)).text();
    expect(html).toContain('<code>/v1/agents/{agent}/search</code>');
    expect(html).toContain('search_examples');
  });

  it('finishes requests in flight when it shuts down', async () => {
    const own = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
    const body = JSON.stringify({ provider: 'heuristic', dryRun: true });
    // Send the headers and half the body, so the request is in flight when the server starts closing.
    const { port } = new URL(own.url);
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/agents/served/prompt/optimize',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        closing = own.close();
        setTimeout(() => req.end(body.slice(10)), 50);
      }, 50);
    });
    let closing: Promise<void> | undefined;
    const r = await response;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ agentName: 'served', version: null });
    await closing;
    await expect(fetch(`${own.url}/healthz`)).rejects.toThrow();
  });
});
