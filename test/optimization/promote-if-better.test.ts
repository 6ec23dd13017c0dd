import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/audit/audit.ts';
import { ValidationError } from '../../src/errors.ts';
import { JUDGE_SYSTEM } from '../../src/evaluation/judge.ts';
import { loadLlmConfig, type LlmConfig } from '../../src/llm/provider.ts';
import { optimizePromptWithMcpRag } from '../../src/optimization/optimize.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';
import { ANTHROPIC_TEST_KEY, startLocalAnthropic, type LocalLlmServer, type ReplyFn } from '../llm/llm-servers.ts';

// optimize --promote-if-better (issue 15, item 3), end to end against a local Messages API server
// that plays the optimizer, the agent and the judge.

let t: TestEnv;
let claude: LocalLlmServer;
let llm: LlmConfig;

beforeAll(async () => {
  claude = await startLocalAnthropic();
  llm = { ...loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: claude.baseURL }), maxRetries: 1, retryBaseDelayMs: 2, retryMaxDelayMs: 10 };
  t = await openTestApp({ llm });
});
afterAll(async () => {
  await t?.close();
  await claude?.close();
});
beforeEach(() => claude.reset());

/** An agent with `n` answered questions (every other with a bad answer too) and, unless told, production version 1 ("OLD: ..."). */
async function makeAgent(name: string, n: number, production = true): Promise<void> {
  await t.app.agents.create({ name, description: `Answers questions about topic ${name}.` }, ACTOR);
  const rows = [];
  for (let i = 0; i < n; i++) {
    rows.push({ prompt: `[${name}] question ${i} about widget ${i * 7}`, completion: `Widget ${i * 7} is configured in panel ${i}.`, rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} });
    if (i % 2) rows.push({ prompt: `[${name}] question ${i} about widget ${i * 7}`, completion: 'No idea, search the web.', rewardScore: 0.1, exampleType: 'negative' as const, metadata: {} });
  }
  await t.app.examples.addMany(name, rows, ACTOR);
  if (production) await t.app.prompts.create(name, { content: 'OLD: answer tersely.', source: 'manual', label: 'production' }, ACTOR);
}

/**
 * The optimizer proposes "NEW: ..."; the agent's answer names the first word of its system prompt
 * (or NONE); the judge prefers the answer over the reference when `better` says so, else the reference.
 */
function script(better: (answer: string) => boolean): ReplyFn {
  return ({ system, prompt }) => {
    if (prompt.includes('<current_prompt>') || prompt.includes('improved_prompt')) return '<improved_prompt>NEW: answer with the panel number.</improved_prompt>';
    if (system !== JUDGE_SYSTEM) return `ANSWER by ${system?.split(':')[0] ?? 'NONE'}: ${prompt}`;
    const data = JSON.parse(prompt.replace(/\n\nYour previous reply[\s\S]*$/, '')) as { A: string; B: string };
    const answerIsA = data.A.startsWith('ANSWER');
    const wins = better(answerIsA ? data.A : data.B);
    return JSON.stringify({ rationale: wins ? 'the answer is better' : 'the reference is better', verdict: wins === answerIsA ? 'A' : 'B' });
  };
}

describe('optimize --promote-if-better', () => {
  it('promotes a candidate that beats production, and the audit row keeps the evidence', async () => {
    await makeAgent('winner', 30);
    claude.reply = script((answer) => answer.includes('by NEW'));
    const r = await optimizePromptWithMcpRag(t.app, 'winner', { provider: 'anthropic', promoteIfBetter: true }, ACTOR, llm);
    expect(r).toMatchObject({ version: 2, label: 'production', promotion: 'promote-if-better', basedOnVersion: 1 });
    expect(r.evaluation).toMatchObject({ promoted: true, baselineVersion: 1, evalSetVersion: 1, evalSetCreated: true, margin: 0 });
    expect(r.evaluation!.comparison.wins).toBe(r.evaluation!.comparison.n);
    expect(r.evaluation!.reason).toMatch(/^better: /);
    expect((await t.app.prompts.get('winner')).version).toBe(2);
    // The candidate label is taken off the promoted version.
    await expect(t.app.prompts.get('winner', { label: 'candidate' })).rejects.toThrow(/no prompt labelled candidate/);
    const agent = await t.app.agents.resolve('winner');
    const items = (await listAudit(t.app.db, { agentId: agent.id })).filter((a) => a.action === 'prompt.label');
    expect(items[0].details).toMatchObject({ label: 'production', from: 1, promotion: 'promote-if-better', evalSetVersion: 1, n: r.evaluation!.comparison.n });
    expect(items[0].details.runs).toEqual({ baseline: r.evaluation!.baselineRun.id, candidate: r.evaluation!.candidateRun.id });
  });

  it('keeps a candidate that is not shown to be better, and says why with the numbers', async () => {
    await makeAgent('loser', 30);
    claude.reply = script((answer) => answer.includes('by OLD'));
    const r = await optimizePromptWithMcpRag(t.app, 'loser', { provider: 'anthropic', promoteIfBetter: true }, ACTOR, llm);
    expect(r).toMatchObject({ version: 2, label: 'candidate', promotion: 'promote-if-better' });
    expect(r.evaluation).toMatchObject({ promoted: false, baselineVersion: 1 });
    expect(r.evaluation!.comparison.losses).toBe(r.evaluation!.comparison.n);
    expect(r.evaluation!.reason).toMatch(/^not shown to be better: .* lower bound -1\.000 .* 0 wins, 0 ties, \d+ losses/);
    expect((await t.app.prompts.get('loser')).version).toBe(1);
    expect((await t.app.prompts.get('loser', { label: 'candidate' })).version).toBe(2);
  });

  it('a margin keeps out a candidate that is better by less', async () => {
    await makeAgent('marginal', 30);
    // 15 of the 30 questions, 12 of which end in 0, 3, 6 or 9: some of NEW's wins are always among them.
    await t.app.evalSets.create('marginal', { size: 15, seed: 1, actor: ACTOR });
    // NEW wins on about a third of the questions and ties the reference nowhere: a real but small gain.
    claude.reply = script((answer) => answer.includes('by NEW') && /question \d*[0369]\b/.test(answer));
    const r = await optimizePromptWithMcpRag(t.app, 'marginal', { provider: 'anthropic', promoteIfBetter: true, margin: 0.6 }, ACTOR, llm);
    expect(r.evaluation!.comparison.meanDifference).toBeGreaterThan(0);
    expect(r.evaluation!.comparison.interval.lower).toBeGreaterThan(0); // better, but not by the margin
    expect(r.evaluation).toMatchObject({ promoted: false, margin: 0.6, evalSetCreated: false });
    expect(r.label).toBe('candidate');
  });

  it('scores a first version against no system prompt, so it has to earn its place', async () => {
    await makeAgent('first', 30, false);
    claude.reply = script((answer) => answer.includes('by NONE'));
    const r = await optimizePromptWithMcpRag(t.app, 'first', { provider: 'anthropic', promoteIfBetter: true }, ACTOR, llm);
    expect(r.evaluation).toMatchObject({ promoted: false, baselineVersion: null });
    expect(r.evaluation!.baselineRun.promptVersion).toBeNull();
    await expect(t.app.prompts.get('first')).rejects.toThrow(/no prompt labelled production/);
    // The agent's answers under no system prompt were asked with no system prompt at all.
    expect(claude.requests.some((q) => q.body.system === undefined && !JSON.stringify(q.body.messages).includes('improved_prompt'))).toBe(true);
  });

  it('creates the eval set before retrieving, so none of its examples grounds the candidate', async () => {
    await makeAgent('grounded', 30);
    claude.reply = script(() => false);
    await optimizePromptWithMcpRag(t.app, 'grounded', { provider: 'anthropic', promoteIfBetter: true, topKExamples: 50 }, ACTOR, llm);
    const set = await t.app.evalSets.get('grounded');
    const optimizerRequest = claude.requests.find((q) => JSON.stringify(q.body.messages).includes('<current_prompt>'))!;
    const sent = JSON.stringify(optimizerRequest.body.messages);
    for (const m of set.members) {
      const e = await t.app.examples.get(m.exampleId);
      expect(sent).not.toContain(JSON.stringify(e.prompt).slice(1, -1));
    }
    expect(sent).toContain('[grounded] question'); // examples outside the set still ground it
  });

  it('plain promote still exists and is audited as such; the two cannot be combined, nor used with a dry run', async () => {
    await makeAgent('plain', 6);
    claude.reply = script(() => true);
    const r = await optimizePromptWithMcpRag(t.app, 'plain', { provider: 'anthropic', promote: true }, ACTOR, llm);
    expect(r).toMatchObject({ label: 'production', promotion: 'promote', evaluation: null });
    const agent = await t.app.agents.resolve('plain');
    const items = (await listAudit(t.app.db, { agentId: agent.id })).filter((a) => a.action === 'prompt.create');
    expect(items[0].details).toMatchObject({ label: 'production', promotion: 'promote' });
    for (const bad of [{ promote: true, promoteIfBetter: true }, { dryRun: true, promoteIfBetter: true }]) {
      const err = await optimizePromptWithMcpRag(t.app, 'plain', { provider: 'anthropic', ...bad }, ACTOR, llm).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.field).toBe('promoteIfBetter');
    }
  });

  it('needs an LLM to answer the eval set: the offline heuristic alone is refused before anything is saved', async () => {
    await makeAgent('offline', 6);
    const offline = loadLlmConfig({});
    const before = (await t.app.prompts.history('offline')).length;
    const err = await optimizePromptWithMcpRag(t.app, 'offline', { provider: 'heuristic', promoteIfBetter: true }, ACTOR, offline).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toContain('needs an LLM to answer the eval set');
    expect((await t.app.prompts.history('offline')).length).toBe(before);
  });
});
