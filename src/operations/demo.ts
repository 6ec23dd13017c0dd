import { z } from 'zod';
import { DEMO_AGENT, loadDemo } from '../demo/demo.ts';
import { withSource } from '../examples/origin.ts';
import { defineOperation } from './operation.ts';

const DEMO_QUERY = 'git: undo my last commit';

export const loadDemoOp = defineOperation({
  name: 'load_demo',
  title: 'Load the demo agent',
  description: `Creates the "${DEMO_AGENT}" agent with 300+ example coding-assistant answers, good and bad, so there is real data to explore, and runs one hybrid search over it. Safe to run again.`,
  input: z.object({}),
  output: z.object({
    agent: z.string(),
    created: z.boolean(),
    added: z.number().int(),
    duplicates: z.number().int(),
    examples: z.number().int(),
    positive: z.number().int(),
    negative: z.number().int(),
    query: z.string(),
    results: z.array(z.object({ rank: z.number().int(), hybridScore: z.number().nullable(), similarity: z.number().nullable(), score: z.number(), input: z.string() })),
  }),
  access: 'admin',
  http: { method: 'POST', path: '/v1/demo' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'demo',
    columns: ['rank', 'hybridScore', 'similarity', 'score', 'input'],
    summary: (r) =>
      `${r.created ? 'Created' : 'Found'} agent "${r.agent}": ${r.examples} examples (${r.positive} positive, ${r.negative} negative), ` +
      `${r.added} added now.\n\nIts best positive examples for "${r.query}"\n(hybrid = 0.6 · similarity + 0.4 · reward score):\n`,
    examples: [
      'exemplar demo',
      `exemplar search --agent ${DEMO_AGENT} "fix a borrow checker error" --type positive`,
      `exemplar examples list --agent ${DEMO_AGENT} --type negative`,
    ],
  },
  run: async (_input, { app, actor, progress }) => {
    const { agent, created, import: result } = await withSource('demo', () => loadDemo(app, actor, progress));
    const [positive, negative, search] = await Promise.all([
      app.examples.count(agent, { exampleType: 'positive' }),
      app.examples.count(agent, { exampleType: 'negative' }),
      app.hybridRetrieveBestExamples({ agentId: agent, query: DEMO_QUERY, minScore: 0.7, topK: 5, exampleType: 'positive' }),
    ]);
    return {
      agent,
      created,
      added: result.added,
      duplicates: result.duplicates,
      examples: positive + negative,
      positive,
      negative,
      query: DEMO_QUERY,
      results: search.results.map(({ rank, hybridScore, similarity, score, input }) => ({ rank, hybridScore, similarity, score, input })),
    };
  },
});
