import { z } from 'zod';
import { DEMO_AGENT, loadDemo } from '../demo/demo.ts';
import { defineOperation, toJson } from './operation.ts';

export const loadDemoOp = defineOperation({
  name: 'load_demo',
  title: 'Load the demo agent',
  description: `Creates the "${DEMO_AGENT}" agent with 300+ example coding-assistant answers, good and bad, so there is real data to explore. Safe to run again.`,
  input: z.object({}),
  output: z.object({
    agent: z.string(),
    created: z.boolean(),
    added: z.number().int(),
    duplicates: z.number().int(),
    examples: z.number().int(),
    positive: z.number().int(),
    negative: z.number().int(),
    top: z.array(z.object({ rewardScore: z.number(), exampleType: z.string(), prompt: z.string() })),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'demo',
    columns: ['rewardScore', 'exampleType', 'prompt'],
    summary: (r) =>
      `${r.created ? 'Created' : 'Found'} agent "${r.agent}": ${r.examples} examples (${r.positive} positive, ${r.negative} negative), ` +
      `${r.added} added now.\nIts best examples:`,
    examples: ['exemplar demo', 'exemplar examples list --agent demo-coding-assistant --type negative'],
  },
  run: async (_input, { app, actor, progress }) => {
    const { agent, created, import: result } = await loadDemo(app, actor, progress);
    const [positive, negative, top] = await Promise.all([
      app.examples.count(agent, { exampleType: 'positive' }),
      app.examples.count(agent, { exampleType: 'negative' }),
      app.examples.list(agent, { minScore: 0.95, limit: 5 }),
    ]);
    return {
      agent,
      created,
      added: result.added,
      duplicates: result.duplicates,
      examples: positive + negative,
      positive,
      negative,
      top: toJson(top.items).map((e) => ({ rewardScore: e.rewardScore, exampleType: e.exampleType, prompt: e.prompt })),
    };
  },
});
