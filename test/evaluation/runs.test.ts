import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadLlmConfig, type LlmConfig } from '../../src/llm/provider.ts';
import { answerFirst, JUDGE_SYSTEM, parseVerdict } from '../../src/evaluation/judge.ts';
import { EvalRunService } from '../../src/evaluation/runs.ts';
import { compilePattern } from '../../src/evaluation/scorers.ts';
import { NotFoundError, ValidationError } from '../../src/errors.ts';
import { ACTOR, openTestApp, type TestEnv } from '../support/app.ts';
import { ANTHROPIC_TEST_KEY, OPENAI_TEST_KEY, startLocalAnthropic, startLocalOpenAIChat, type LocalLlmServer, type ReplyFn } from '../llm/llm-servers.ts';

let t: TestEnv;
let claude: LocalLlmServer;
let chat: LocalLlmServer;

/** Keys and endpoints of the local servers; one retry, a few ms apart, so failures come fast. */
function llmConfig(extra: Partial<LlmConfig> = {}): LlmConfig {
  return {
    ...loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: claude.baseURL, OPENAI_API_KEY: OPENAI_TEST_KEY, OPENAI_BASE_URL: chat.baseURL }),
    maxRetries: 1,
    retryBaseDelayMs: 2,
    retryMaxDelayMs: 10,
    ...extra,
  };
}
const service = (extra: Partial<LlmConfig> = {}) =>
  new EvalRunService(t.app.db, t.app.agents, t.app.prompts, (spec) => t.app.memoryIndex.embedder(spec), llmConfig(extra));

/** References by prompt, so the scripted agent can answer like the reference or like a bad answer. */
const references = new Map<string, string>();
const negatives = new Map<string, string>();

/**
 * An agent with `n` questions in its eval set (every other one with a bad answer as contrast),
 * some other rated examples for the judge's rubric, and prompt versions 1 ("v1") and 2 ("v2").
 */
async function makeAgent(name: string, n: number, options: { prompts?: boolean } = {}): Promise<void> {
  await t.app.agents.create({ name, description: `Agent ${name}` }, ACTOR);
  const rows = [];
  for (let i = 1; i <= n; i++) {
    const prompt = `[${name}] how do I do task ${i}?`;
    const completion = `To do task ${i}, open the settings, choose option ${i} and press save.`;
    references.set(prompt, completion);
    rows.push({ prompt, completion, rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} });
    if (i % 2 === 1) {
      const bad = `No idea about task ${i}, try searching the web for it.`;
      negatives.set(prompt, bad);
      rows.push({ prompt, completion: bad, rewardScore: 0.1, exampleType: 'negative' as const, metadata: {} });
    }
  }
  await t.app.examples.addMany(name, rows, ACTOR);
  await t.app.evalSets.create(name, { size: n, actor: ACTOR });
  // The judge's rubric: added after the set was pinned, so not in it, and dated before it, as the
  // rubric takes only examples older than the set (so that later ones cannot change the scoring).
  await t.app.examples.addMany(name, [
    { prompt: `[${name}] how do I reset my password?`, completion: 'Open the account page and press reset password.', rewardScore: 0.95, exampleType: 'positive', metadata: {} },
    { prompt: `[${name}] how do I delete my account?`, completion: 'You cannot.', rewardScore: 0.05, exampleType: 'negative', metadata: {} },
  ], ACTOR);
  await t.app.db.query(`UPDATE training_examples SET created_at = now() - interval '1 hour' WHERE prompt LIKE $1`, [`[${name}] how do I %`]);
  if (options.prompts !== false) {
    await t.app.prompts.create(name, { content: 'v1: you are terse.', source: 'manual', label: 'production' }, ACTOR);
    await t.app.prompts.create(name, { content: 'v2: you are helpful.', source: 'manual', label: 'candidate' }, ACTOR);
  }
}

/** The agent's scripted answer: names the system prompt's version, so the judge can tell. */
const agentAnswer = (system: string | undefined, prompt: string) => `ANSWER by ${system?.slice(0, 2) ?? 'none'}: ${references.get(prompt) ?? prompt}`;

/**
 * A scripted model that is both the agent and the judge. As the judge it reads the JSON it was
 * sent, finds which of A and B is the agent's answer, and prefers what `prefer` says for it.
 */
function script(prefer: (answer: string) => 'answer' | 'reference' | 'tie' | 'garbage', answer = agentAnswer): ReplyFn {
  return ({ system, prompt }) => {
    if (system !== JUDGE_SYSTEM) return answer(system, prompt);
    const data = JSON.parse(prompt.replace(/\n\nYour previous reply[\s\S]*$/, '')) as { A: string; B: string };
    const answerIsA = data.A.startsWith('ANSWER') || data.A.startsWith('LIKE');
    const own = answerIsA ? data.A : data.B;
    const p = prefer(own);
    if (p === 'garbage') return 'I cannot decide, sorry.';
    const verdict = p === 'tie' ? 'tie' : (p === 'answer') === answerIsA ? 'A' : 'B';
    return `\`\`\`json\n${JSON.stringify({ rationale: `prefers the ${p}`, verdict })}\n\`\`\``;
  };
}

/** v2's answers beat the reference, v1's lose to it, anything else ties. */
const v2Wins = script((own) => (own.includes('by v2') ? 'answer' : own.includes('by v1') ? 'reference' : 'tie'));

beforeAll(async () => {
  claude = await startLocalAnthropic();
  chat = await startLocalOpenAIChat();
  t = await openTestApp();
});
afterAll(async () => {
  await t?.close();
  await claude?.close();
  await chat?.close();
});
beforeEach(() => {
  claude.reset();
  chat.reset();
});

describe('evaluation runs', () => {
  it('puts the answer first for about half the examples, and maps the verdict back from the position', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const first = ids.filter(answerFirst).length;
    expect(first).toBeGreaterThan(450);
    expect(first).toBeLessThan(550);
    const a = ids.find(answerFirst)!;
    const b = ids.find((id) => !answerFirst(id))!;
    expect(parseVerdict('{"rationale": "r", "verdict": "A"}', a)).toMatchObject({ ok: true, verdict: 'answer', score: 1 });
    expect(parseVerdict('{"rationale": "r", "verdict": "a"}', b)).toMatchObject({ ok: true, verdict: 'reference', score: 0 });
    expect(parseVerdict('Sure. {"verdict": "tie", "rationale": "same"} Done.', b)).toMatchObject({ ok: true, verdict: 'tie', score: 0.5 });
    expect(parseVerdict('{"verdict": "C", "rationale": "?"}', a)).toMatchObject({ ok: false });
    expect(parseVerdict('{"verdict": "A"', a)).toMatchObject({ ok: false });
  });

  it('is wired into Exemplar as app.evalRuns and app.evalSets', () => {
    expect(t.app.evalRuns).toBeInstanceOf(EvalRunService);
    expect(typeof t.app.evalSets.create).toBe('function');
  });

  it('scores two prompt versions with a Claude judge, and compare shows one beating the other and not the reverse', async () => {
    await makeAgent('duel', 12);
    claude.reply = v2Wins;
    const runs = service();
    const progress: string[] = [];
    const one = await runs.run('duel', { promptVersion: 1, provider: 'anthropic' }, ACTOR, (done, total, message) => progress.push(`${done}/${total} ${message}`));
    expect(progress[0]).toMatch(/^0\/12 estimate: 24 requests \(0 cached\)/);
    expect(progress).toHaveLength(13);
    expect(one.run).toMatchObject({ status: 'completed', promptVersion: 1, provider: 'anthropic', judgeProvider: 'anthropic', items: 12, scored: 12, failedItems: 0, meanScore: 0, meanJudge: 0 });
    // Every answer had v1 as its system prompt; 12 answers and 12 verdicts went over the wire.
    const answers = claude.requests.filter((r) => r.body.system !== JUDGE_SYSTEM);
    expect(answers).toHaveLength(12);
    for (const r of answers) expect(r.body.system).toBe('v1: you are terse.');
    expect(claude.requests).toHaveLength(24);
    // The agent's answer sat in position A where the seeded hash of the example id says so.
    const judged = claude.requests.filter((r) => r.body.system === JUDGE_SYSTEM).map((r) => JSON.parse(r.body.messages[0].content));
    expect(judged.filter((d) => d.A.startsWith('ANSWER')).length).toBe(one.run!.results.filter((r) => answerFirst(r.exampleId)).length);
    // The rubric: the item's contrast and the agent's examples outside the eval set.
    expect(JSON.stringify(judged)).toContain('You cannot.');
    expect(JSON.stringify(judged)).toContain('press reset password');

    const two = await runs.run('duel', { promptVersion: 2, provider: 'anthropic' }, ACTOR);
    expect(two.run).toMatchObject({ status: 'completed', meanScore: 1, scored: 12 });
    expect(two.run!.results[0].rationale).toBe('prefers the answer');

    const forward = await runs.compare('duel', 1, 2);
    expect(forward.comparison).toMatchObject({ n: 12, wins: 12, losses: 0, meanDifference: 1 });
    expect(forward.comparison.interval.lower).toBeGreaterThan(0);
    expect(forward.gate.promote).toBe(true);
    expect(forward.pairs).toHaveLength(12);
    expect(forward.pairs[0]).toMatchObject({ scoreA: 0, scoreB: 1, difference: 1, rationaleB: 'prefers the answer' });
    expect(forward.pairs[0].answerB).toContain('by v2');
    expect(forward.pairs[0].reference).toBe(references.get(forward.pairs[0].prompt!));

    const reverse = await runs.compare('duel', 2, 1);
    expect(reverse.comparison).toMatchObject({ wins: 0, losses: 12 });
    expect(reverse.comparison.interval.lower).toBeLessThan(0);
    expect(reverse.gate.promote).toBe(false);
    expect(reverse.gate.reason).toContain('not shown to be better');

    // Production (v1) against itself by label, and the prompt-version page's scores.
    expect((await runs.compare('duel', 'production', 2)).a.promptVersion).toBe(1);
    const latest = await runs.latestScores('duel');
    expect(latest.map((l) => [l.promptVersion, l.meanScore])).toEqual([[2, 1], [1, 0]]);
    expect((await runs.list('duel')).map((r) => r.promptVersion)).toEqual([2, 1]);
    expect((await runs.list('duel', { promptVersion: 1 })).map((r) => r.id)).toEqual([one.run!.id]);
  });

  it('a judge that calls it even gives a tie and a gate that stays shut; a mixed judge does not open it either', async () => {
    await makeAgent('even', 10);
    // v1 ties; v2 wins on about half the examples (by whether the prompt's task number is even) and loses on the rest.
    claude.reply = script((own) => (own.includes('by v1') ? 'tie' : Number(/task (\d+)/.exec(own)![1]) % 2 === 0 ? 'answer' : 'reference'));
    const runs = service();
    await runs.run('even', { promptVersion: 1, provider: 'anthropic' }, ACTOR);
    await runs.run('even', { promptVersion: 2, provider: 'anthropic' }, ACTOR);
    const c = await runs.compare('even', 1, 2);
    expect(c.comparison).toMatchObject({ n: 10, wins: 5, losses: 5, meanDifference: 0 });
    expect(c.comparison.interval.lower).toBeLessThan(0);
    expect(c.gate.promote).toBe(false);
  });

  it('runs against an OpenAI-compatible server, and evaluates "no system prompt" when there is no production prompt', async () => {
    await makeAgent('fresh', 6, { prompts: false });
    chat.reply = script(() => 'tie');
    const runs = service();
    const base = await runs.run('fresh', { promptVersion: 'production', provider: 'openai', model: 'llama3' }, ACTOR);
    expect(base.notes.join(' ')).toContain('no production prompt');
    expect(base.run).toMatchObject({ status: 'completed', promptVersion: null, provider: 'openai', model: 'llama3', judgeModel: 'llama3', meanScore: 0.5 });
    expect(base.run!.promptContentHash).toMatch(/^[0-9a-f]{64}$/);
    for (const r of chat.requests.filter((q) => q.body.messages.every((m: { content: string }) => m.content !== JUDGE_SYSTEM))) {
      expect(r.body.messages.map((m: { role: string }) => m.role)).toEqual(['user']); // no system message at all
    }
    expect(chat.requests.every((r) => r.body.model === 'llama3' && r.body.temperature === 0)).toBe(true);
    await t.app.prompts.create('fresh', { content: 'v1: first try.', source: 'optimized', label: 'candidate' }, ACTOR);
    chat.reply = script((own) => (own.includes('by v1') ? 'answer' : 'tie'));
    await runs.run('fresh', { promptVersion: 1, provider: 'openai', model: 'llama3' }, ACTOR);
    const c = await runs.compare('fresh', 'none', 1);
    expect(c.a.promptVersion).toBeNull();
    expect(c.comparison).toMatchObject({ n: 6, wins: 6, meanA: 0.5, meanB: 1 });
    expect(c.gate.promote).toBe(true);
    // A judge on the other provider: Claude judges the local server's answers.
    claude.reply = script(() => 'answer');
    const cross = await runs.run('fresh', { promptVersion: 'none', provider: 'openai', model: 'llama3', judge: { provider: 'anthropic', model: 'claude-haiku-4-5' } }, ACTOR);
    expect(cross.run).toMatchObject({ judgeProvider: 'anthropic', judgeModel: 'claude-haiku-4-5', meanScore: 1 });
    expect(claude.requests).toHaveLength(6);
  });

  it('a provider failure halfway leaves a failed run with what it finished; the rerun completes without asking for those again', async () => {
    await makeAgent('flaky', 8);
    claude.reply = v2Wins;
    const runs = service();
    // One item at a time, so the order is fixed: answer 1, verdict 1, answer 2, ... Item 4's answer
    // gets a 503 and its one retry a 503: the run fails there.
    claude.failures.push({}, {}, {}, {}, {}, {}, { status: 503 }, { status: 503 });
    const first = await runs.run('flaky', { promptVersion: 2, provider: 'anthropic', concurrency: 1 }, ACTOR);
    expect(first.run).toMatchObject({ status: 'failed', scored: 3, items: 8 });
    expect(first.run!.error).toContain('503');
    expect(first.run!.results).toHaveLength(3);
    expect(first.notes.join(' ')).toContain('run it again to resume');
    const finished = first.run!.results.map((r) => r.exampleId);
    const finishedPrompts = new Set(first.run!.results.map((r) => r.prompt));
    expect(claude.requests).toHaveLength(8);

    claude.requests.length = 0;
    const estimate = await runs.estimate('flaky', { promptVersion: 2, provider: 'anthropic' });
    expect(estimate.requests).toMatchObject({ total: 16, cached: 6 });
    const second = await runs.run('flaky', { promptVersion: 2, provider: 'anthropic', concurrency: 3 }, ACTOR);
    expect(second.run).toMatchObject({ status: 'completed', scored: 8, meanScore: 1, cachedItems: 3 });
    // 5 answers and 5 verdicts: nothing of the 3 finished items was asked again.
    expect(claude.requests).toHaveLength(10);
    for (const r of claude.requests) {
      const text = r.body.system === JUDGE_SYSTEM ? JSON.parse(r.body.messages[0].content).question : r.body.messages[0].content;
      expect(finishedPrompts.has(text)).toBe(false);
    }
    for (const r of second.run!.results) expect(r.cached).toBe(finished.includes(r.exampleId));
  });

  it('a rerun with the same inputs is answered from the cache: no request, cached results, nothing paid', async () => {
    await makeAgent('cachey', 5);
    claude.reply = v2Wins;
    const runs = service({ price: { inputPerMTok: 3, outputPerMTok: 15 } });
    const first = await runs.run('cachey', { promptVersion: 1, provider: 'anthropic' }, ACTOR);
    expect(first.run!.costUsd).toBeGreaterThan(0);
    expect(first.run!.results.every((r) => !r.cached)).toBe(true);
    const sent = claude.requests.length;
    // A progress listener that throws (a client gone) does not end the run.
    const again = await runs.run('cachey', { promptVersion: 1, provider: 'anthropic' }, ACTOR, (done) => {
      if (done > 0) throw new Error('listener gone');
    });
    expect(claude.requests).toHaveLength(sent);
    expect(again.estimate.requests.cached).toBe(10);
    expect(again.estimate.costUsd).toBe(0);
    expect(again.run).toMatchObject({ status: 'completed', cachedItems: 5, costUsd: 0, meanScore: first.run!.meanScore, inputTokens: first.run!.inputTokens });
    expect(again.run!.results.every((r) => r.cached)).toBe(true);
    expect(again.run!.results.map((r) => r.answer)).toEqual(first.run!.results.map((r) => r.answer));
    // Another max_tokens is another answer request; the scripted answers come back the same, so
    // their verdicts (same request) are still cached.
    const other = await runs.run('cachey', { promptVersion: 1, provider: 'anthropic', maxTokens: 300 }, ACTOR);
    expect(claude.requests.length).toBe(sent + 5);
    expect(claude.requests.slice(sent).every((r) => r.body.max_tokens === 300)).toBe(true);
    expect(other.run!.cachedItems).toBe(0);
  });

  it('an unreadable verdict is asked once more, then recorded as that item\'s error; the run completes', async () => {
    await makeAgent('muddled', 4);
    const runs = service();
    let garbled: string | undefined;
    claude.reply = script((own) => {
      garbled ??= own;
      return own === garbled ? 'garbage' : 'answer';
    });
    const r = await runs.run('muddled', { promptVersion: 1, provider: 'anthropic', concurrency: 1 }, ACTOR);
    expect(r.run).toMatchObject({ status: 'completed', scored: 3, failedItems: 1, meanScore: 1 });
    const bad = r.run!.results.find((x) => x.error !== null)!;
    expect(bad).toMatchObject({ primaryScore: null, verdict: null });
    expect(bad.error).toContain('no JSON object');
    expect(bad.error).toContain('asked twice');
    expect(bad.scores!.similarity).toBeGreaterThan(0);
    expect(claude.requests.filter((q) => q.body.system === JUDGE_SYSTEM)).toHaveLength(5);
  });

  it('says when the version evaluated was written from examples of the eval set', async () => {
    await makeAgent('quoted', 3);
    const member = (await t.app.evalSets.get('quoted')).members[0].exampleId;
    const v = await t.app.prompts.create('quoted', { content: 'v3: quotes an answer.', source: 'optimized', exampleIds: [member] }, ACTOR);
    claude.reply = v2Wins;
    const r = await service().run('quoted', { promptVersion: v.version, provider: 'anthropic', dryRun: true }, ACTOR);
    expect(r.notes).toContain(`prompt version ${v.version} was written from 1 example(s) of eval set version 1, so its score may be inflated`);
    const clean = await service().run('quoted', { promptVersion: 1, provider: 'anthropic', dryRun: true }, ACTOR);
    expect(clean.notes.some((n) => n.includes('inflated'))).toBe(false);
  });

  it('an example added between two runs does not change the judge\'s rubric, so the runs still compare', async () => {
    await makeAgent('growing', 6);
    const runs = service();
    claude.reply = v2Wins;
    await runs.run('growing', { promptVersion: 1, provider: 'anthropic' }, ACTOR);
    await t.app.examples.add('growing', { prompt: 'a new best answer', completion: 'the best yet', rewardScore: 0.99, exampleType: 'positive' }, ACTOR);
    await runs.run('growing', { promptVersion: 2, provider: 'anthropic' }, ACTOR);
    expect((await runs.compare('growing', 1, 2)).comparison.n).toBe(6);
  });

  it('compare counts an item the challenger left unscored as its loss, and a run of another agent is not found', async () => {
    await makeAgent('dropper', 6);
    const runs = service();
    // v2's answers make the judge's reply unreadable: the items drop out of v2's run, not out of the comparison.
    claude.reply = script((own) => (own.includes('by v2') ? 'garbage' : 'tie'));
    const a = await runs.run('dropper', { promptVersion: 1, provider: 'anthropic' }, ACTOR);
    const b = await runs.run('dropper', { promptVersion: 2, provider: 'anthropic' }, ACTOR);
    expect(b.run).toMatchObject({ status: 'completed', scored: 0, failedItems: 6 });
    const c = await runs.compare('dropper', 1, 2);
    expect(c.comparison).toMatchObject({ n: 6, wins: 0, losses: 6 });
    expect(c.pairs[0].rationaleB).toMatch(/^not scored: /);
    expect(c.gate.promote).toBe(false);
    await makeAgent('stranger', 2);
    const err = await runs.compare('stranger', a.run!.id, b.run!.id).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).not.toContain('dropper');
  });

  it('without a judge, the offline scorers: an answer like the reference beats one like the bad answer, and the checks', async () => {
    await makeAgent('offline', 6);
    const runs = service();
    chat.reply = script(() => 'tie', (system, prompt) =>
      system?.startsWith('v1') ? references.get(prompt)! : negatives.get(prompt) ?? 'Something else entirely about gardening.');
    const checks = { contains: 'press save', regex: '^To do task \\d+', json: true, exact: true };
    const good = await runs.run('offline', { promptVersion: 1, provider: 'openai', judge: false, checks }, ACTOR);
    const bad = await runs.run('offline', { promptVersion: 2, provider: 'openai', judge: false, checks }, ACTOR);
    expect(chat.requests).toHaveLength(12); // answers only
    expect(good.run).toMatchObject({ judgeProvider: null, judgeModel: null, meanJudge: null });
    expect(good.run!.meanScore).toBe(good.run!.meanSimilarity);
    expect(good.run!.meanScore!).toBeGreaterThan(0.8);
    expect(bad.run!.meanScore!).toBeLessThan(good.run!.meanScore! - 0.2);
    for (const r of good.run!.results) {
      expect(r.scores).toMatchObject({ exact: 1, contains: 1, regex: 1, json: 0, referenceCosine: expect.closeTo(1, 5) });
      expect(r.primaryScore).toBe(r.scores!.similarity);
    }
    const withContrast = bad.run!.results.filter((r) => r.contrasts.length > 0);
    expect(withContrast.length).toBe(3);
    for (const r of withContrast) {
      expect(r.scores!.contrastCosine!).toBeCloseTo(1, 5);
      expect(r.primaryScore!).toBeLessThan(0.5);
      expect(r.contrasts).toEqual([negatives.get(r.prompt!)]);
    }
    const c = await runs.compare('offline', 2, 1);
    expect(c.comparison.wins).toBe(6);
    expect(c.gate.promote).toBe(true);
    // Runs scored differently (with a judge) do not pair with these.
    claude.reply = v2Wins;
    const judged = await runs.run('offline', { promptVersion: 1, provider: 'anthropic' }, ACTOR);
    expect(judged.run!.scoringHash).not.toBe(good.run!.scoringHash);
    expect((await runs.compare('offline', 1, 2)).a.id).toBe(good.run!.id);
    const unpaired = await runs.compare('offline', judged.run!.id, 2).catch((e) => e);
    expect(unpaired.message).toContain('no pair of completed runs');
  });

  it('estimates requests, tokens and cost before a run, and says when a price is unknown', async () => {
    await makeAgent('pricey', 5);
    const known = await service().estimate('pricey', { promptVersion: 2, provider: 'anthropic', model: 'claude-haiku-4-5' });
    expect(known).toMatchObject({ items: 5, requests: { answers: 5, judge: 5, total: 10, cached: 0 }, model: 'claude-haiku-4-5', judge: { model: 'claude-haiku-4-5' } });
    expect(known.prices.answer).toEqual({ inputPerMTok: 1, outputPerMTok: 5, source: 'list price' });
    expect(known.costUsd).toBeCloseTo((known.inputTokens * 1 + known.outputTokens * 5) / 1e6, 9);
    // Answers as long as their references (4 characters a token), verdicts about 80 tokens.
    const referenceTokens = [...references].filter(([p]) => p.startsWith('[pricey]')).reduce((s, [, r]) => s + Math.ceil(r.length / 4), 0);
    expect(known.outputTokens).toBe(referenceTokens + 5 * 80);
    const offline = await service().estimate('pricey', { promptVersion: 2, provider: 'anthropic', model: 'claude-haiku-4-5', judge: false });
    expect(offline.requests.total).toBe(5);
    expect(offline.inputTokens).toBeLessThan(known.inputTokens);

    const unknown = await service().estimate('pricey', { promptVersion: 2, provider: 'openai', model: 'llama3' });
    expect(unknown.costUsd).toBeNull();
    expect(unknown.notes.join(' ')).toContain('price of openai model "llama3" is unknown');
    const overridden = await service(loadLlmConfig({ EXEMPLAR_LLM_PRICE: '2, 4' })).estimate('pricey', { promptVersion: 2, provider: 'openai', model: 'llama3' });
    expect(overridden.prices.answer).toEqual({ inputPerMTok: 2, outputPerMTok: 4, source: 'EXEMPLAR_LLM_PRICE' });
    expect(overridden.costUsd).toBeCloseTo((overridden.inputTokens * 2 + overridden.outputTokens * 4) / 1e6, 9);
    expect(() => loadLlmConfig({ EXEMPLAR_LLM_PRICE: '3' })).toThrow(/EXEMPLAR_LLM_PRICE/);

    // A dry run asks nothing and stores nothing.
    const dry = await service().run('pricey', { promptVersion: 2, provider: 'anthropic', dryRun: true }, ACTOR);
    expect(dry.run).toBeNull();
    expect(dry.estimate.requests.total).toBe(10);
    expect(claude.requests).toHaveLength(0);
    expect(await service().list('pricey')).toEqual([]);
  });

  it('refuses bad options, naming the field', async () => {
    await makeAgent('picky', 2);
    const runs = service();
    const bad = async (options: object, field: string) => {
      const err = await runs.run('picky', { promptVersion: 1, ...options } as never, ACTOR).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.field).toBe(field);
      return err;
    };
    expect((await bad({ provider: 'heuristic' }, 'provider')).message).toContain('needs a model');
    await bad({ judge: { provider: 'heuristic' } }, 'judge.provider');
    await bad({ concurrency: 17 }, 'concurrency');
    await bad({ concurrency: 0 }, 'concurrency');
    await bad({ maxTokens: 1.5 }, 'maxTokens');
    await bad({ promptVersion: 'latest' }, 'promptVersion');
    await bad({ checks: { regex: '(' } }, 'checks.regex');
    await bad({ checks: { regex: 'a'.repeat(501) } }, 'checks.regex');
    expect((await bad({ checks: { regex: '(a)\\1' } }, 'checks.regex')).message).toContain('no backreferences');
    // Patterns that backtrack for minutes in JavaScript's engine run in linear time in RE2's.
    const started = performance.now();
    expect(compilePattern('(a|a)*b').test('a'.repeat(20_000))).toBe(false);
    expect(compilePattern('(a|aa)+$').test(`${'a'.repeat(20_000)}!`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    await bad({ checks: { fuzzy: true } }, 'checks.fuzzy');
    // With no model configured at all, the default provider is the offline heuristic: refused.
    const offline = new EvalRunService(t.app.db, t.app.agents, t.app.prompts, (spec) => t.app.memoryIndex.embedder(spec), loadLlmConfig({}));
    const err = await offline.run('picky', { promptVersion: 1 }, ACTOR).catch((e) => e);
    expect(err).toMatchObject({ field: 'provider' });
    expect(err.message).toContain('ANTHROPIC_API_KEY');
    // No run of version 2 yet: compare says which run to do.
    await runs.run('picky', { promptVersion: 1, provider: 'anthropic', judge: false }, ACTOR);
    const missing = await runs.compare('picky', 1, 2).catch((e) => e);
    expect(missing.message).toContain('no completed run of prompt version 2');
    expect(missing.message).toContain('exemplar eval run --agent picky --version 2');
    await expect(runs.get('not-a-uuid')).rejects.toMatchObject({ field: 'runId' });
  });

  it('keeps API keys out of errors, stored runs and the audit log', async () => {
    await makeAgent('secretive', 3);
    const runs = service();
    claude.failures.push(
      { status: 500, message: `upstream rejected ${ANTHROPIC_TEST_KEY}` },
      { status: 500, message: `upstream rejected ${ANTHROPIC_TEST_KEY}` },
    );
    const failed = await runs.run('secretive', { promptVersion: 1, provider: 'anthropic', concurrency: 1 }, ACTOR);
    expect(failed.run!.status).toBe('failed');
    expect(failed.run!.error).toContain('upstream rejected');
    // A wrong key: the server echoes it in its 401, which is never passed on.
    const wrongKey = await service({ anthropicApiKey: 'sk-ant-WRONG-SECRET-999' }).run('secretive', { promptVersion: 2, provider: 'anthropic' }, ACTOR);
    expect(wrongKey.run!.status).toBe('failed');
    expect(wrongKey.run!.error).toContain('ANTHROPIC_API_KEY');
    const everything = JSON.stringify([failed, wrongKey]);
    const { rows } = await t.app.db.query(
      `SELECT (SELECT json_agg(r) FROM eval_runs r)::text AS runs, (SELECT json_agg(x) FROM eval_results x)::text AS results,
              (SELECT json_agg(a) FROM audit_log a)::text AS audit, (SELECT json_agg(c) FROM llm_call_cache c)::text AS cache`,
    );
    for (const text of [everything, JSON.stringify(rows)]) {
      expect(text).not.toContain('SECRET');
    }
  });
});
