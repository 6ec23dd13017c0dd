import { buildDataset } from '../src/datasets/builder.ts';
import { findNearDuplicates } from '../src/datasets/near-dup.ts';
import { importExamples } from '../src/import-export/import-export.ts';
import { fmt, openBenchApp, templatedJsonl } from './support.ts';

/** Issue 6's figure: dataset build throughput at 100k examples, near-duplicate removal included. */
export async function benchDatasets(n = Number(process.env.BENCH_DATASET_ROWS ?? 100_000)): Promise<void> {
  console.log(`\n## Dataset build (${fmt(n, 0)} templated examples: one template with numbers changed, the near-duplicate search's hardest case; PGlite, openai-sft with near-duplicate removal at 0.95)`);
  const { app, close } = await openBenchApp('pglite');
  try {
    await app.agents.create({ name: 'bench' }, 'bench');
    const r = await importExamples(app.examples, 'bench', Buffer.from(templatedJsonl(n)), 'bench', { format: 'jsonl' }, app.config.maxTextBytes);
    if (r.added !== n) throw new Error(`imported ${r.added} of ${n}`);
    // SFT takes positive examples only; make all of them positive so the build sees all n.
    await app.db.query(`UPDATE training_examples SET example_type = 'positive'`);
    const t0 = performance.now();
    const built = await buildDataset(app, { agent: 'bench', format: 'openai-sft', nearDuplicateThreshold: 0.95 });
    const secs = (performance.now() - t0) / 1000;
    const rep = built.report;
    console.log('| examples selected | near dups removed | train / validation | tokens | build time | examples/s |');
    console.log('|---|---|---|---|---|---|');
    console.log(
      `| ${fmt(rep.selected, 0)} | ${fmt(rep.removed.nearDuplicates, 0)} | ${fmt(rep.train.examples, 0)} / ${fmt(rep.validation.examples, 0)} | ` +
        `${fmt(rep.train.tokens + rep.validation.tokens, 0)} | ${fmt(secs, 2)} s | ${fmt(rep.selected / secs, 0)} |`,
    );
    console.log(`\nPhases (ms): ${Object.entries(rep.timings).map(([k, v]) => `${k} ${fmt(v, 0)}`).join(', ')}`);

    // The near-duplicate step alone, on all n texts (both types), against the exact all-pairs count.
    const texts = (templatedJsonl(n).trim().split('\n')).map((l) => {
      const o = JSON.parse(l) as { prompt: string; completion: string };
      return { text: `${o.prompt}\n${o.completion}`, group: 0 };
    });
    const t1 = performance.now();
    const near = findNearDuplicates(texts, 0.95);
    const nearSecs = (performance.now() - t1) / 1000;
    const removed = near.duplicateOf.reduce((s, d) => s + (d >= 0 ? 1 : 0), 0);
    console.log(`\n| near-duplicate removal alone | texts | removed | exact cosine checks | vs all pairs | time | texts/s |`);
    console.log('|---|---|---|---|---|---|---|');
    console.log(
      `| LSH (SimHash bands) + exact check | ${fmt(n, 0)} | ${fmt(removed, 0)} | ${fmt(near.comparisons, 0)} | ` +
        `${fmt((near.comparisons / ((n * (n - 1)) / 2)) * 100, 3)}% | ${fmt(nearSecs, 2)} s | ${fmt(n / nearSecs, 0)} |`,
    );
  } finally {
    await close();
  }
}
