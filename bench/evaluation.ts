import { prng } from '../src/datasets/near-dup.ts';
import { comparePaired, promotionGate } from '../src/evaluation/compare.ts';
import { JUDGE_SYSTEM } from '../src/evaluation/judge.ts';
import { EvalRunService } from '../src/evaluation/runs.ts';
import { loadLlmConfig } from '../src/llm/provider.ts';
import { ANTHROPIC_TEST_KEY, startLocalAnthropic } from '../test/llm/llm-servers.ts';
import { fmt, openBenchApp, syntheticExamples } from './support.ts';

/**
 * Issue 15's statistics figure: how often the promotion gate opens on synthetic paired scores with
 * a known true difference. Each example has its own difficulty (shared by both versions, which is
 * what pairing is for) plus independent noise per version (sd 0.2); B's scores are shifted by the
 * true difference. The gate opens when the 90% bootstrap-t interval's lower bound is above 0, so at a
 * true difference of 0 it should open at most 5% of the time.
 */
export async function benchEvaluation(trials = 500, nullTrials = 2000): Promise<void> {
  for (const kind of ['pglite', 'postgres'] as const) await benchEvaluationRun(kind);
  console.log(
    `\n## The promotion gate on synthetic paired scores (${nullTrials} trials at difference 0, where a rate's standard error is about 0.5 points; ${trials} at the others; 1,000 bootstrap resamples each; noise sd 0.2 per version; seeded)`,
  );
  console.log('| examples | true difference 0 (false promotions; goal ≤ 5%) | +0.03 (small) | +0.10 (large) |');
  console.log('|---|---|---|---|');
  for (const n of [30, 100, 200]) {
    const cells: string[] = [];
    for (const shift of [0, 0.03, 0.1]) {
      const rand = prng(1000 * n + Math.round(shift * 100));
      let opened = 0;
      const runs = shift === 0 ? nullTrials : trials;
      for (let t = 0; t < runs; t++) {
        const difficulty = Array.from({ length: n }, () => rand());
        const noise = () => (rand() + rand() + rand() - 1.5) * 0.4; // sd 0.2
        const a = difficulty.map((d) => d + noise());
        const b = difficulty.map((d) => d + shift + noise());
        if (promotionGate(comparePaired(a, b, { resamples: 1000, seed: t + 1 })).promote) opened++;
      }
      cells.push(`${fmt((100 * opened) / runs, 1)}%`);
    }
    console.log(`| ${n} | ${cells.join(' | ')} |`);
  }
}

/**
 * Issue 15's overhead figure: an evaluation run of 200 eval items against a local server that
 * speaks the Messages API and answers at once, so what is measured is Exemplar's own cost (the
 * SDK over HTTP, the cache lookups and writes, embedding the answers, scoring, storing results),
 * not a model's. Judge on, default concurrency (4), cache cold; then the same run again, all cached.
 */
export async function benchEvaluationRun(kind: 'pglite' | 'postgres', items = 200): Promise<void> {
  const server = await startLocalAnthropic();
  const { app, close } = await openBenchApp(kind);
  // Its own service, pointed at the local server (the app's reads the real environment).
  const evalRuns = new EvalRunService(app.db, app.agents, app.prompts, (spec) => app.memoryIndex.embedder(spec), loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: server.baseURL }));
  try {
    const actor = 'bench';
    await app.agents.create({ name: 'evalbench', description: 'Evaluation overhead' }, actor);
    const positives = [...syntheticExamples(items, 15)].map((e) => ({ prompt: e.prompt, completion: e.completion }));
    await app.examples.addMany('evalbench', [
      ...positives.map((e) => ({ ...e, rewardScore: 0.9, exampleType: 'positive' as const, metadata: {} })),
      // Half the prompts also have a bad answer: the contrasts of the similarity scorer and the judge's rubric.
      ...positives.filter((_, i) => i % 2 === 0).map((e) => ({ prompt: e.prompt, completion: `Not sure. ${e.completion.split(' ').reverse().join(' ')}`, rewardScore: 0.1, exampleType: 'negative' as const, metadata: {} })),
    ], actor);
    await app.evalSets.create('evalbench', { size: items, actor });
    await app.prompts.create('evalbench', { content: 'You answer coding questions briefly, with code.', source: 'manual', label: 'production' }, actor);
    // The agent echoes a reference-sized answer; the judge gives a valid verdict at once.
    server.reply = ({ system, prompt }) => (system === JUDGE_SYSTEM ? '{"rationale": "A is closer to the good examples.", "verdict": "A"}' : `Here is how: ${prompt} ${prompt} ${prompt}`);

    console.log(`\n## Evaluation run overhead (${kind}; ${items} eval items, a local Messages API server that answers at once; judge on; default concurrency 4)`);
    let t0 = performance.now();
    const cold = await evalRuns.run('evalbench', { promptVersion: 'production', provider: 'anthropic' }, actor);
    let ms = performance.now() - t0;
    if (cold.run?.status !== 'completed') throw new Error(`the bench run did not complete: ${cold.run?.error}`);
    const requests = server.requests.length;
    console.log(`- cold cache, judge on: ${fmt(ms / 1000, 2)} s wall for ${requests} model requests (${items} answers + ${items} verdicts) = ${fmt(requests / (ms / 1000), 0)} requests/s, ${fmt(ms / items, 1)} ms per item`);
    server.requests.length = 0;
    t0 = performance.now();
    const warm = await evalRuns.run('evalbench', { promptVersion: 'production', provider: 'anthropic' }, actor);
    ms = performance.now() - t0;
    console.log(`- the same run again, every call from the cache (${server.requests.length} requests, ${warm.run?.cachedItems} cached items): ${fmt(ms / 1000, 2)} s wall, ${fmt(ms / items, 1)} ms per item`);
    // The floor: the same number of requests straight through the SDK at the same concurrency, no
    // Exemplar around them (the server runs in this process, so it shares these two cores).
    const { createLlmProvider } = await import('../src/llm/provider.ts');
    const raw = createLlmProvider('anthropic', loadLlmConfig({ ANTHROPIC_API_KEY: ANTHROPIC_TEST_KEY, ANTHROPIC_BASE_URL: server.baseURL }));
    let sent = 0;
    t0 = performance.now();
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (sent < requests) await raw.complete({ prompt: `${positives[sent++ % items].prompt}`, maxTokens: 1024 });
    }));
    ms = performance.now() - t0;
    console.log(`- for scale, the same ${requests} requests straight through the SDK to the same server, 4 at a time, nothing else: ${fmt(ms / 1000, 2)} s wall = ${fmt(requests / (ms / 1000), 0)} requests/s`);
    server.requests.length = 0;
    t0 = performance.now();
    const maxed = await evalRuns.run('evalbench', { promptVersion: 'production', provider: 'anthropic', concurrency: 16, maxTokens: 2048 }, actor);
    ms = performance.now() - t0;
    console.log(`- cold answers at concurrency 16 (max tokens changed, so answers miss the cache; verdicts on the same answers hit it): ${fmt(ms / 1000, 2)} s wall for ${server.requests.length} requests = ${fmt(server.requests.length / (ms / 1000), 0)} requests/s (${maxed.run?.status})`);
  } finally {
    await close();
    await server.close();
  }
}
