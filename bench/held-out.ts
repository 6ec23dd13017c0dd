import { buildDataset } from '../src/datasets/builder.ts';
import { nearDuplicateMatcher } from '../src/datasets/near-dup.ts';
import { loadHeldOut } from '../src/evaluation/held-out.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { fmt, openBenchApp, percentile, syntheticExamples, syntheticJsonl, templatedJsonl } from './support.ts';

/**
 * Issue 15's eval-set guard: what it costs the optimizer and few-shot (retrieval), and the dataset
 * builder, with no eval set, and with the largest one (2,000 items and their contrasts).
 */
export async function benchHeldOut(n = Number(process.env.BENCH_HELD_OUT_ROWS ?? 10_000)): Promise<void> {
  console.log(`\n## Eval-set guard (${fmt(n, 0)} synthetic examples, PGlite, memory index)`);
  const { app, close } = await openBenchApp('pglite');
  try {
    await app.agents.create({ name: 'bench' }, 'bench');
    const r = await importExamples(app.examples, 'bench', Buffer.from(syntheticJsonl(n)), 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
    if (r.added !== n) throw new Error(`imported ${r.added} of ${n}`);
    await app.syncTrainingDataToVectorStore('bench');
    const queries = [...syntheticExamples(30, 99)].map((e) => e.prompt);

    const time = async (f: () => Promise<unknown>, reps = queries.length) => {
      await f();
      const ms: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        await f();
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      return { p50: percentile(ms, 50), p95: percentile(ms, 95) };
    };
    let q = 0;
    const fewShot = (excludeHeldOut: boolean) => () =>
      app.retrieval.retrieveBalanced({ agentId: 'bench', query: queries[q++ % queries.length], topK: 8, positiveRatio: 0.7, minScore: 0.5 }, { excludeHeldOut });
    const build = async () => {
      const t0 = performance.now();
      const built = await buildDataset(app, { agent: 'bench', format: 'trl-kto', nearDuplicateThreshold: 0 });
      return { ms: performance.now() - t0, heldOut: built.report.removed.heldOut, guardMs: built.report.timings.heldOut ?? 0 };
    };

    const rows: string[] = [];
    const line = (name: string, load: { p50: number; p95: number }, plain: { p50: number; p95: number }, guarded: { p50: number; p95: number }, b: Awaited<ReturnType<typeof build>>) =>
      rows.push(`| ${name} | ${fmt(load.p50, 2)} ms | ${fmt(plain.p50, 1)} / ${fmt(plain.p95, 1)} ms | ${fmt(guarded.p50, 1)} / ${fmt(guarded.p95, 1)} ms | ${fmt(b.guardMs, 0)} ms of ${fmt(b.ms, 0)} ms (${fmt(b.heldOut, 0)} held out) |`);

    const none = {
      load: await time(() => loadHeldOut(app.db, 'bench')),
      plain: await time(fewShot(false)),
      guarded: await time(fewShot(true)),
      build: await build(),
    };
    line('no eval set', none.load, none.plain, none.guarded, none.build);
    const set = await app.evalSets.create('bench', { size: Math.min(2000, Math.floor(n / 5)), actor: 'bench' });
    const big = {
      load: await time(() => loadHeldOut(app.db, 'bench')),
      plain: await time(fewShot(false)),
      guarded: await time(fewShot(true)),
      build: await build(),
    };
    line(`eval set of ${fmt(set.items, 0)} items + ${fmt(set.contrasts, 0)} contrasts`, big.load, big.plain, big.guarded, big.build);
    console.log('| agent | load the held-out set | balanced search, 8 examples (p50 / p95): plain | with the guard | dataset build (trl-kto): guard step of total |');
    console.log('|---|---|---|---|---|');
    for (const row of rows) console.log(row);

    // The near-duplicate check alone, n texts against 4,000 members: random texts, and the
    // templated corpus where every text is close to every other (the LSH's slow case).
    const texts = [...syntheticExamples(n + 4000, 7)].map((e) => `${e.prompt}\n${e.completion}`);
    const templated = templatedJsonl(n + 4000).trim().split('\n').map((l) => {
      const o = JSON.parse(l) as { prompt: string; completion: string };
      return `${o.prompt}\n${o.completion}`;
    });
    console.log(`\n| near duplicates of 4,000 members among ${fmt(n, 0)} other texts | index the members | check the texts | texts/s |`);
    console.log('|---|---|---|---|');
    for (const [name, corpus] of [['random vocabulary', texts], ['one template (worst case)', templated]] as const) {
      const t0 = performance.now();
      const match = nearDuplicateMatcher(corpus.slice(0, 4000), 0.95);
      const t1 = performance.now();
      match(corpus.slice(4000));
      const t2 = performance.now();
      console.log(`| ${name} | ${fmt(t1 - t0, 0)} ms | ${fmt((t2 - t1) / 1000, 2)} s | ${fmt(n / ((t2 - t1) / 1000), 0)} |`);
    }
  } finally {
    await close();
  }
}
