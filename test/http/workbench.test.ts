import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/http/rest.ts';
import { startHttpServer, type RunningServer } from '../../src/http/server.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

let t: TestEnv;
let server: RunningServer;
let writer: string;
let writerId: string;
let reader: string;
beforeAll(async () => {
  t = await openTestApp();
  await t.app.agents.create({ name: 'wb-rest' }, ACTOR);
  const w = await t.app.apiKeys.create({ scopes: ['write:wb-rest'], name: 'reviewer-bob' }, ACTOR);
  writer = w.key;
  writerId = w.id;
  reader = (await t.app.apiKeys.create({ scopes: ['read:wb-rest'] }, ACTOR)).key;
  server = await startHttpServer(t.app, { host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close();
  await t.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const api = async (method: string, path: string, body?: unknown, key = writer, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
};

const add = (i: number, headers: Record<string, string> = {}) =>
  api('POST', '/v1/agents/wb-rest/examples', { prompt: `rest q${i}`, completion: `rest a${i}`, rewardScore: 0.5, exampleType: 'positive', metadata: { team: i % 2 ? 'odd' : 'even', ...(i === 3 ? { ticket: 'T-3' } : {}) } }, writer, headers);

describe('the workbench over REST', () => {
  it('records the source of new examples: rest, or ui when the web UI says so', async () => {
    expect((await add(1)).body.source).toBe('rest');
    expect((await add(2, { 'x-exemplar-client': 'ui' })).body.source).toBe('ui');
    for (const i of [3, 4, 5]) expect((await add(i)).status).toBe(200);
  });

  it('lists with metadata filters, a sort by type and a total; refuses impossible filters with a 400 that says why', async () => {
    const q = `metadata=${encodeURIComponent('{"team":"odd"}')}&sort=negative_first&limit=2`;
    const page = await api('GET', `/v1/agents/wb-rest/examples?${q}`, undefined, reader);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(3);
    expect(page.body.items).toHaveLength(2);
    expect(page.body.nextCursor).toEqual(expect.any(String));
    expect((await api('GET', '/v1/agents/wb-rest/examples?metadataKeys=ticket', undefined, reader)).body.total).toBe(1);
    expect((await api('GET', '/v1/agents/wb-rest/examples?needsReview=true', undefined, reader)).body.total).toBe(5);
    const bad = await api('GET', '/v1/agents/wb-rest/examples?minScore=0.82&maxScore=0.33', undefined, reader);
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_input', message: 'minScore: is above maxScore (0.82 > 0.33): no example could match', details: { field: 'minScore' } });
    const badJson = await api('GET', '/v1/agents/wb-rest/examples?metadata=team', undefined, reader);
    expect(badJson.status).toBe(400);
    expect(badJson.body.error.details.field).toBe('metadata');
  });

  it('bulk-edits with a write key (a read key is refused), and shows the history with the key name', async () => {
    const ids = (await api('GET', '/v1/agents/wb-rest/examples?limit=10', undefined, reader)).body.items.map((e: { id: string }) => e.id);
    expect((await api('POST', '/v1/examples/bulk', { ids, action: 'set_reward', rewardScore: 0.33 }, reader)).status).toBe(403);
    const missing = await api('POST', '/v1/examples/bulk', { ids, action: 'set_reward' });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.field).toBe('rewardScore');
    const tooMany = await api('POST', '/v1/examples/bulk', { ids: Array.from({ length: 1001 }, () => ids[0]), action: 'delete' });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.field).toBe('ids');
    expect((await api('POST', '/v1/examples/bulk', { ids: ids.slice(0, 3), action: 'set_reward', rewardScore: 0.33 })).body).toMatchObject({ action: 'set_reward', affected: 3 });
    expect((await api('POST', '/v1/examples/bulk', { ids: ids.slice(0, 1), action: 'set_type', exampleType: 'negative' })).body).toMatchObject({ affected: 1 });
    const shown = await api('GET', `/v1/examples/${ids[0]}`, undefined, reader);
    expect(shown.body).toMatchObject({ rewardScore: 0.33, exampleType: 'negative' });
    expect(shown.body.history.map((h: Record<string, unknown>) => [h.actor, h.actorName, h.oldReward, h.newReward, h.oldType, h.newType])).toEqual([
      [`key:${writerId}`, 'reviewer-bob', 0.5, 0.33, 'positive', 'positive'],
      [`key:${writerId}`, 'reviewer-bob', 0.33, 0.33, 'positive', 'negative'],
    ]);
    expect((await api('GET', '/v1/agents/wb-rest/examples?needsReview=true', undefined, reader)).body.total).toBe(2);
    const audit = await api('GET', '/v1/audit?agent=wb-rest&limit=5', undefined, reader);
    expect(audit.body.items[0]).toMatchObject({ action: 'example.bulk_set_type', actor: `key:${writerId}`, actorName: 'reviewer-bob' });
    expect((await api('GET', '/v1/audit', undefined, reader)).status).toBe(403); // the whole log is for admin keys
  });

  it('shows prompt authors by key name', async () => {
    const v = await api('POST', '/v1/agents/wb-rest/prompt/versions', { content: 'Be brief.', label: 'candidate' });
    expect(v.body).toMatchObject({ createdBy: `key:${writerId}`, createdByName: 'reviewer-bob' });
    expect((await api('GET', '/v1/agents/wb-rest/prompt/versions', undefined, reader)).body.items[0].createdByName).toBe('reviewer-bob');
  });

  it('serves agent_stats', async () => {
    const s = await api('GET', '/v1/agents/wb-rest/stats?weeks=2&buckets=5', undefined, reader);
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ agent: 'wb-rest', total: 5, bySource: { rest: 4, ui: 1 } });
    expect(s.body.weeks).toHaveLength(2);
    expect(s.body.rewardHistogram).toHaveLength(5);
    expect((await api('GET', '/v1/agents/wb-rest/stats?weeks=0', undefined, reader)).status).toBe(400);
  });

  it('documents the new routes in OpenAPI', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, { operationId: string }>>;
    expect(paths['/v1/examples/bulk'].post.operationId).toBe('bulk_edit_examples');
    expect(paths['/v1/agents/{agent}/stats'].get.operationId).toBe('agent_stats');
    expect(paths['/v1/audit'].get.operationId).toBe('list_audit');
  });
});
