import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvalSetService } from '../../src/evaluation/eval-sets.ts';
import { loadLlmConfig } from '../../src/llm/provider.ts';
import { optimizePromptWithMcpRag } from '../../src/optimization/optimize.ts';
import { ANTHROPIC_TEST_KEY, startLocalAnthropic, type LocalLlmServer } from '../llm/llm-servers.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';

// Issue 15: an example in the agent's eval set cannot reach the optimizer's request. The request
// is read as the (local, wire-format) Anthropic server received it.

let t: TestEnv;
let claude: LocalLlmServer;

/** A distinctive token per prompt, so a text found in the request names exactly one prompt's examples. */
const mark = (i: number) => `M${1000 + i}X`;
const TOPICS = ['gzip', 'websocket upgrades', 'TLS certificates', 'rate limiting', 'load balancing', 'cache headers', 'client_max_body_size', 'timeouts', 'health checks', 'access logs', 'HTTP/2', 'sticky sessions'];
const good = (i: number) => `Set up ${TOPICS[i]} in the server block, then reload nginx (${mark(i)}, good).`;
const bad = (i: number) => `No idea, just restart the machine (${mark(i)}, bad).`;

beforeAll(async () => {
  claude = await startLocalAnthropic();
  t = await openTestApp();
  await t.app.agents.create({ name: 'sealed', description: 'Explains how to configure nginx reverse proxies.' }, ACTOR);
  // 12 prompts, each with a good and a bad answer: every one of them fits in the request.
  await t.app.examples.addMany('sealed', Array.from({ length: 12 }, (_, i) => {
    const prompt = `How do I set up ${TOPICS[i]} in an nginx reverse proxy? (${mark(i)})`;
    return [
      { prompt, completion: good(i), rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} },
      { prompt, completion: bad(i), rewardScore: 0.1, exampleType: 'negative' as const, metadata: {} },
    ];
  }).flat(), ACTOR);
  await t.app.prompts.create('sealed', { content: 'You configure nginx.', source: 'manual', label: 'production' }, ACTOR);
});
afterAll(async () => {
  await t.close();
  await claude.close();
});

const llmConfig = () => ({ ...loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: claude.baseURL }), retryBaseDelayMs: 5, retryMaxDelayMs: 20 });

async function optimizeAndReadRequest(): Promise<{ body: string; result: Awaited<ReturnType<typeof optimizePromptWithMcpRag>> }> {
  claude.reset();
  claude.reply = () => '<improved_prompt>You configure nginx carefully.</improved_prompt>';
  // 40 asked for (28 positive, 12 negative), 24 stored: without the guard, every example is in the request.
  const result = await optimizePromptWithMcpRag(t.app, 'sealed', { provider: 'anthropic', topKExamples: 40, dryRun: true }, ACTOR, llmConfig());
  expect(claude.requests).toHaveLength(1);
  return { body: JSON.stringify(claude.requests[0].body), result };
}

describe("the optimizer's request", () => {
  it('contains no eval-set example, only the others', async () => {
    // Before any eval set, every example grounds the request (so the check below can fail).
    const before = await optimizeAndReadRequest();
    for (let i = 0; i < 12; i++) for (const text of [good(i), bad(i)]) expect(before.body).toContain(text);
    expect(before.result.retrievalStrategy).not.toContain('held out');

    const set = await new EvalSetService(t.app.db, t.app.agents).create('sealed', { size: 4, seed: 3, actor: ACTOR });
    expect(set).toMatchObject({ items: 4, contrasts: 4 });
    const { rows } = await t.app.db.query<{ id: string; completion: string }>(`SELECT id::text, completion FROM training_examples`);
    const memberIds = new Set(set.members.map((m) => m.exampleId));
    const memberTexts = rows.filter((r) => memberIds.has(r.id)).map((r) => r.completion);
    const otherTexts = rows.filter((r) => !memberIds.has(r.id)).map((r) => r.completion);
    expect(memberTexts).toHaveLength(8);

    const after = await optimizeAndReadRequest();
    for (const text of memberTexts) expect(after.body).not.toContain(text);
    // Nor their prompts: a member's mark appears nowhere in the request.
    for (const text of memberTexts) expect(after.body).not.toContain(/M1\d\d\dX/.exec(text)![0]);
    for (const text of otherTexts) expect(after.body).toContain(text);
    expect(after.result.exampleIds.some((id) => memberIds.has(id))).toBe(false);
    expect(after.result.examplesUsed).toBe(16);
    expect(after.result.retrievalStrategy).toContain("the 8 examples of the agent's eval sets and their near duplicates were held out");
  });
});
