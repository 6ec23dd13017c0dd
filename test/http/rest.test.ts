import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { restOperations } from '../../src/http/rest.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let server: RunningServer;
let admin: string;
let reader: string;
beforeAll(async () => {
  t = await openTestApp();
  admin = (await t.app.apiKeys.create({ scopes: ['admin'] }, ACTOR)).key;
  server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const api = async (method: string, path: string, body?: unknown, key = admin) => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('the REST API', () => {
  it('runs the whole flow: agent, examples, search, prompt, optimize, promote, rollback', async () => {
    expect((await api('POST', '/v1/agents', { name: 'rest-agent', description: 'answers' })).status).toBe(200);
    expect((await api('POST', '/v1/agents/rest-agent/examples/import', { data: '{"prompt":"sort a list","completion":"sorted(xs)","reward_score":0.9,"example_type":"positive"}\n' })).body).toMatchObject({ added: 1 });
    const search = await api('POST', '/v1/agents/rest-agent/search', { query: 'sort a list', topK: 3 });
    expect(search.body.results[0]).toMatchObject({ input: 'sort a list', rank: 1 });
    const page = await api('GET', '/v1/agents/rest-agent/examples?limit=1&minScore=0.5&exampleType=positive');
    expect(page.body.items).toHaveLength(1);
    expect((await api('GET', `/v1/examples/${page.body.items[0].id}`)).body).toMatchObject({ completion: 'sorted(xs)' });
    expect((await api('POST', '/v1/agents/rest-agent/prompt/versions', { content: 'Be brief.', label: 'production' })).body).toMatchObject({ version: 1 });
    expect((await api('POST', '/v1/agents/rest-agent/prompt/optimize', { provider: 'heuristic' })).body).toMatchObject({ version: 2, label: 'candidate' });
    expect((await api('GET', '/v1/agents/rest-agent/prompt/diff?from=1&to=2')).body.unified).toContain('+');
    expect((await api('POST', '/v1/agents/rest-agent/prompt/promote', {})).body).toMatchObject({ version: 2 });
    expect((await api('POST', '/v1/agents/rest-agent/prompt/rollback', {})).body).toMatchObject({ version: 3, source: 'rollback' });
    expect((await api('GET', '/v1/agents/rest-agent/prompt')).body).toMatchObject({ version: 3, content: 'Be brief.' });
  });

  it('answers bad requests with 4xx and a JSON body that says what was wrong', async () => {
    const bad = await api('POST', '/v1/agents', { name: 'has space' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_input', details: { field: 'name' } });
    expect((await api('GET', '/v1/agents/nobody')).status).toBe(404);
    expect((await api('POST', '/v1/agents', { name: 'rest-agent' })).status).toBe(409);
    const wrongMethod = await api('PUT', '/v1/agents');
    expect(wrongMethod.status).toBe(405);
    expect((await api('GET', '/v1/nope')).status).toBe(404);
    const res = await fetch(`${server.url}/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: '{oops' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('invalid_json');
    expect((await fetch(`${server.url}/v1/agents`)).status).toBe(401);
  });

  it('scopes keys the same way as every door', async () => {
    await api('POST', '/v1/agents', { name: 'other-agent' });
    reader = (await t.app.apiKeys.create({ scopes: ['read:rest-agent'] }, ACTOR)).key;
    expect((await api('GET', '/v1/agents', undefined, reader)).body.items.map((a: { name: string }) => a.name)).toEqual(['rest-agent']);
    expect((await api('GET', '/v1/agents/other-agent', undefined, reader)).status).toBe(404);
    expect((await api('POST', '/v1/agents/rest-agent/examples', { prompt: 'p', completion: 'c', rewardScore: 1, exampleType: 'positive' }, reader)).status).toBe(403);
  });

  it('publishes an OpenAPI 3.1 document with every route', async () => {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(doc.openapi).toBe('3.1.0');
    const ids = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((p) => Object.values(p).map((o) => o.operationId));
    expect(ids.sort()).toEqual(restOperations().map((o) => o.name).sort());
    expect(doc.paths['/v1/agents/{agent}/search'].post.requestBody.content['application/json'].schema.properties.query).toBeTruthy();
  });
});
