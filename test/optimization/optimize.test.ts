import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlmConfig } from '../../src/llm/provider.ts';
import { optimizePromptWithMcpRag } from '../../src/optimization/optimize.ts';
import { OptimizationReplyError, parseImprovedPrompt } from '../../src/optimization/prompt-xml.ts';
import { ACTOR, openTestApp, snapshot, type TestEnv } from '../support/app.ts';
import { ANTHROPIC_TEST_KEY, OPENAI_TEST_KEY, startLocalAnthropic, startLocalOpenAIChat, type LocalLlmServer } from '../llm/llm-servers.ts';

let t: TestEnv;
let claude: LocalLlmServer;
let chat: LocalLlmServer;
const llmConfig = () => ({
  ...loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: claude.baseURL, OPENAI_API_KEY: OPENAI_TEST_KEY, OPENAI_BASE_URL: chat.baseURL }),
  retryBaseDelayMs: 5,
  retryMaxDelayMs: 20,
});

beforeAll(async () => {
  claude = await startLocalAnthropic();
  chat = await startLocalOpenAIChat();
  t = await openTestApp();
  await t.app.agents.create({ name: 'coder', description: 'Answers Python questions with runnable code.' }, ACTOR);
  await t.app.examples.addMany('coder', [
    { prompt: 'read a csv in python', completion: '```python\nimport csv\nrows = list(csv.DictReader(open("f.csv")))\n```', rewardScore: 0.95, exampleType: 'positive', metadata: {} },
    { prompt: 'reverse a list in python', completion: '```python\nxs[::-1]\n```', rewardScore: 0.9, exampleType: 'positive', metadata: {} },
    { prompt: 'sort a dict by value in python', completion: '```python\nsorted(d.items(), key=lambda kv: kv[1])\n```', rewardScore: 0.85, exampleType: 'positive', metadata: {} },
    { prompt: 'read a csv in python', completion: 'Just split lines on commas.', rewardScore: 0.05, exampleType: 'negative', metadata: {} },
    { prompt: 'python help', completion: 'Google it.', rewardScore: 0.0, exampleType: 'negative', metadata: {} },
  ], ACTOR);
  await t.app.prompts.create('coder', { content: 'You are a Python helper.', source: 'manual', label: 'production' }, ACTOR);
});
afterAll(async () => {
  await t.close();
  await claude.close();
  await chat.close();
});

describe('optimizePromptWithMcpRag', () => {
  it('asks Claude with the prompt and examples in XML, and saves the tagged reply as the candidate', async () => {
    claude.reply = () => ({ text: 'Here is my work.\n<improved_prompt>You are a Python helper. Always show runnable code.</improved_prompt>\nDone.', inputTokens: 321, outputTokens: 12 });
    const r = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'anthropic', topKExamples: 5 }, ACTOR, llmConfig());
    expect(r).toMatchObject({
      agentName: 'coder', optimizedPrompt: 'You are a Python helper. Always show runnable code.', version: 2, label: 'candidate', basedOnVersion: 1,
      usage: { inputTokens: 321, outputTokens: 12 },
    });
    expect(r.method).toContain('anthropic');
    expect(r.examplesUsed).toBe(r.exampleIds.length);
    const sent = claude.requests[claude.requests.length - 1].body as { messages: { content: unknown }[]; system?: unknown };
    const text = JSON.stringify(sent.messages);
    for (const tag of ['<current_prompt>', '<examples>', '<example>', '<input>', '<output>', '<reward>', '<negative_examples>']) expect(text).toContain(tag);
    expect(text).toContain('You are a Python helper.');
    expect(text).toContain('Google it.');
    const saved = await t.app.prompts.get('coder', { label: 'candidate' });
    expect(saved).toMatchObject({ version: 2, source: 'optimized', model: r.model, basedOnVersion: 1 });
    expect(saved.exampleIds.sort()).toEqual([...r.exampleIds].sort());
    expect((await t.app.prompts.get('coder')).version).toBe(1); // production unchanged
  });

  it('uses an OpenAI-compatible server, and promotes when asked', async () => {
    chat.reply = () => '<improved_prompt>Be exact.</improved_prompt>';
    const r = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'openai', promote: true }, ACTOR, llmConfig());
    expect(r).toMatchObject({ optimizedPrompt: 'Be exact.', label: 'production' });
    expect((await t.app.prompts.get('coder')).content).toBe('Be exact.');
  });

  it('retries a 429 and then succeeds', async () => {
    claude.failures.push({ status: 429, type: 'rate_limit_error', message: 'slow down' });
    claude.reply = () => '<improved_prompt>After a retry.</improved_prompt>';
    const r = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'anthropic', dryRun: true }, ACTOR, llmConfig());
    expect(r).toMatchObject({ optimizedPrompt: 'After a retry.', version: null, label: null });
  });

  it('saves nothing when the reply has no tag, or the API answers with an error', async () => {
    // Earlier tests' search uses are written on a 2 s timer: write them now, so it cannot fire between the snapshots.
    await t.app.usage.flush();
    const before = await snapshot(t.app);
    claude.reply = () => 'I think the prompt is fine as it is.';
    const noTag = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'anthropic' }, ACTOR, llmConfig()).catch((e) => e);
    expect(noTag).toBeInstanceOf(OptimizationReplyError);
    expect(noTag.message).toContain('no <improved_prompt>');
    claude.failures.push({ status: 400, type: 'invalid_request_error', message: 'max_tokens is too large' });
    const bad = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'anthropic' }, ACTOR, llmConfig()).catch((e) => e);
    expect(bad.message).toContain('max_tokens is too large');
    expect(JSON.stringify(bad)).not.toContain(ANTHROPIC_TEST_KEY);
    expect(await snapshot(t.app)).toEqual(before);
  });

  it('works offline with the heuristic provider, and says so', async () => {
    const r = await optimizePromptWithMcpRag(t.app, 'coder', { provider: 'heuristic', dryRun: true }, ACTOR, loadLlmConfig({}));
    expect(r.method).toMatch(/^heuristic \(offline, no LLM\)/);
    expect(r.model).toBeNull();
    expect(r.optimizedPrompt).toContain('Be exact.'); // the current production prompt is kept
    expect(r.optimizedPrompt).toContain('Show working code in fenced code blocks');
    expect(r.optimizedPrompt).toContain('Avoid answers like');
    expect(r.optimizedPrompt).toContain('<examples>');
  });

  it('is the default without any API key, also through the library API', async () => {
    const r = await optimizePromptWithMcpRag(t.app, 'coder', { dryRun: true }, ACTOR, loadLlmConfig({}));
    expect(r.method).toMatch(/^heuristic/);
    const viaLibrary = await t.app.optimizePromptWithMcpRag('coder', { topKExamples: 3, provider: 'heuristic', dryRun: true });
    expect(viaLibrary).toMatchObject({ agentName: 'coder', examplesUsed: 3, version: null });
  });

  it('numbers 20 concurrent optimizations strictly in sequence, losing none', async () => {
    await t.app.agents.create({ name: 'crowd' }, ACTOR);
    await t.app.examples.add('crowd', { prompt: 'q', completion: 'a', rewardScore: 0.9, exampleType: 'positive' }, ACTOR);
    let n = 0;
    claude.reply = () => `<improved_prompt>prompt ${++n}</improved_prompt>`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => optimizePromptWithMcpRag(t.app, 'crowd', { provider: 'anthropic' }, ACTOR, llmConfig())),
    );
    expect(results.map((r) => r.version).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const stored = (await t.app.prompts.history('crowd')).map((v) => v.content).sort();
    expect(stored).toEqual(results.map((r) => r.optimizedPrompt).sort());
    expect(new Set(stored).size).toBe(20);
  });
});

describe('parseImprovedPrompt', () => {
  it('takes the last complete tag and ignores the text around it', () => {
    expect(parseImprovedPrompt('x <improved_prompt>draft</improved_prompt> then <improved_prompt>\n final \n</improved_prompt> y')).toBe('final');
    expect(parseImprovedPrompt('<improved_prompt>Use &lt;code&gt; tags</improved_prompt>')).toBe('Use &lt;code&gt; tags'); // verbatim
    expect(() => parseImprovedPrompt('no tag here')).toThrow(OptimizationReplyError);
    expect(() => parseImprovedPrompt('<improved_prompt>  </improved_prompt>')).toThrow(/empty/);
    expect(() => parseImprovedPrompt('<improved_prompt>cut off by max_tokens')).toThrow(/no <improved_prompt>/);
  });
});
