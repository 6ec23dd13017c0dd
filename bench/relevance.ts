import fs from 'node:fs';
import { DEMO_AGENT, loadDemo } from '../src/demo/demo.ts';
import type { Exemplar } from '../src/exemplar.ts';
import type { MeanMetrics } from '../src/relevance/metrics.ts';
import { fmt, openBenchApp } from './support.ts';

const SET = fs.readFileSync(new URL('../data/demo/search-eval.jsonl', import.meta.url), 'utf8');
const HOLDOUT = fs.readFileSync(new URL('../data/demo/search-eval-holdout.jsonl', import.meta.url), 'utf8');

/**
 * Issue 10's figures: relevance of the demo agent's search on its labelled questions (50, and 40
 * held out), before and after, and the time to tune α and β. "Before" is the first round's ranking,
 * α·(1+cos)/2 + β·reward with the `hashing` model: at α 0.6 and β 0.4 it orders results exactly as
 * the seed's formula does at α 0.3 and β 0.4 (the two differ by the constant α/2), so it is
 * measured that way, through today's search.
 */
export async function benchRelevance(): Promise<void> {
  const { app, close } = await openBenchApp('pglite');
  try {
    await loadDemo(app, 'bench');
    const rows: string[] = [];
    const row = async (label: string, model: string, similarityWeight: number, scoreWeight: number) => {
      await useModel(app, model);
      const w = [{ similarityWeight, scoreWeight }];
      const [a, b] = [(await app.relevance.evaluate(DEMO_AGENT, SET, w)).settings[0], (await app.relevance.evaluate(DEMO_AGENT, HOLDOUT, w)).settings[0]];
      rows.push(`| ${label} | ${model} | ${similarityWeight} / ${scoreWeight} | ${cells(a)} | ${cells(b)} |`);
    };
    await row('before: the first round (α·(1+cos)/2 + β·reward at 0.6 / 0.4)', 'hashing', 0.3, 0.4);
    await row("the seed's formula, first embedder", 'hashing', 0.6, 0.4);
    await row('similarity alone, first embedder', 'hashing', 1, 0);
    await row("**after: the seed's formula at the default weights**", 'hashing-v2', 0.6, 0.4);
    await row('similarity alone', 'hashing-v2', 1, 0);

    await useModel(app, 'hashing-v2');
    const t0 = performance.now();
    const tuned = await app.relevance.tune(DEMO_AGENT, SET, { step: 0.05, actor: 'bench' });
    const tuneMs = performance.now() - t0;
    await row(`tuned on the 50 (\`search tune\`: best nDCG@10)`, 'hashing-v2', tuned.best.similarityWeight, tuned.best.scoreWeight);

    console.log(`\n## Search relevance on the demo agent's labelled questions (data/demo; ${count(SET)} questions, and ${count(HOLDOUT)} held out, never used to tune)`);
    console.log('Each cell: hit@1 / hit@5 / MRR@10 / nDCG@10 (gain = grade × reward). Goal at the default settings: hit@1 >= 0.75, hit@5 >= 0.90.');
    console.log('| ranking | embedder | α / β | search-eval.jsonl | search-eval-holdout.jsonl |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(r);
    console.log(`\n| tuning | value |\n|---|---|`);
    console.log(`| \`search tune\`: ${count(SET)} questions x ${tuned.grid.length} settings (α step 0.05) = ${count(SET) * tuned.grid.length} searches on ${await exampleCount(app)} examples | ${fmt(tuneMs / 1000, 2)} s (${fmt(tuneMs / (count(SET) * tuned.grid.length), 2)} ms a search) |`);
  } finally {
    await close();
  }
}

async function useModel(app: Exemplar, model: string): Promise<void> {
  if ((await app.agents.get(DEMO_AGENT)).embeddingModel === model) return;
  await app.agents.update(DEMO_AGENT, { embeddingModel: model }, 'bench');
  await app.syncTrainingDataToVectorStore(DEMO_AGENT);
}

function cells(m: MeanMetrics): string {
  return [m.hitAt1, m.hitAt5, m.mrrAt10, m.ndcgAt10].map((x) => fmt(x, 2)).join(' / ');
}

function count(jsonl: string): number {
  return jsonl.split('\n').filter((l) => l.trim()).length;
}

async function exampleCount(app: Exemplar): Promise<number> {
  return (await app.agents.get(DEMO_AGENT)).exampleCount;
}
