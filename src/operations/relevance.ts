import { z } from 'zod';
import { canWrite, ForbiddenError } from '../access/access.ts';
import { agentRefInput } from '../agents/agents.ts';
import { judgeInput } from '../relevance/relevance.ts';
import { briefInToolList, defineOperation, toJson } from './operation.ts';

const metrics = {
  hitAt1: z.number().describe('Share of questions whose first result is relevant'),
  hitAt5: z.number().describe('Share with a relevant result in the top 5'),
  mrrAt10: z.number().describe('Mean of 1/rank of the first relevant result (0 beyond rank 10)'),
  ndcgAt10: z.number().describe('nDCG@10 with gain = grade × reward: relevance first, then reward among the relevant'),
};
const approximateSearches = z.number().int().describe('Searches answered by HNSW (approximate)');
/** A summary's note when some metrics come from approximate rankings. */
const approximateNote = (n: number) => (n ? `${n} searches were approximate (HNSW), so the metrics may differ from exact search.\n` : '');
const weights = { similarityWeight: z.number().describe('α'), scoreWeight: z.number().describe('β') };
const labelSource = z
  .union([z.string(), z.array(z.unknown())])
  .optional()
  .describe(
    'The labelled set: JSONL text, or a list of questions. Each is {"query", "relevant": [id, or {"id" | "prompt" (a prefix of the ' +
      'example\'s prompt), "exampleType"?, "grade"? (1 default, 0..3)}], and optional search filters (minScore, exampleType, ' +
      'maxScore, contains, createdAfter, createdBefore)}. Omitted: the agent\'s stored relevance judgments.',
  );
const weightPair = z
  .string()
  .regex(/^\s*(0(\.\d+)?|1(\.0+)?)\s*,\s*(0(\.\d+)?|1(\.0+)?)\s*$/, 'must be "α,β" with both between 0 and 1, e.g. "0.8,0.2"');
/** "α,β" as weights. (Not a zod transform: doors parse an input more than once.) */
const toWeights = (pair: string) => {
  const [similarityWeight, scoreWeight] = pair.split(',').map(Number);
  return { similarityWeight, scoreWeight };
};

export const evaluateSearch = defineOperation({
  name: 'evaluate_search',
  rateLimit: 'heavy',
  title: 'Measure search relevance',
  description:
    "Measures how well an agent's search puts the right examples first, on labelled questions (a JSONL set, or the agent's " +
    'stored relevance judgments). Each question runs through the same hybrid search users get, top 10, and is scored with ' +
    'hit@1, hit@5, MRR@10 and nDCG@10, for each weight setting compared (default: the agent\'s α and β, and similarity alone). ' +
    'Lists the questions whose first result was not relevant, with what ranked above the target.',
  input: z.object({
    agent: agentRefInput,
    questions: labelSource,
    compare: z.array(weightPair).optional().describe('Weight settings to compare, each "α,β" (e.g. "1,0" for similarity alone)'),
    fileName: z.string().optional().describe('Name of the labelled file, for messages'),
  }),
  output: z.object({
    agent: z.string(),
    source: z.enum(['questions', 'judgments']),
    questions: z.number().int(),
    settings: z.array(
      z.object({
        ...weights,
        ...metrics,
        misses: z.array(
          z.object({
            line: z.number().int().describe('Line of the labelled file (or position of the question)'),
            query: z.string(),
            firstRelevantRank: z.number().int().nullable().describe('Rank of the first relevant result; null beyond 10'),
            target: z.object({ id: z.string(), input: z.string() }).describe('The best-graded relevant example'),
            above: z.array(
              z.object({ rank: z.number().int(), id: z.string(), input: z.string(), similarity: z.number().nullable(), score: z.number(), hybridScore: z.number().nullable() }),
            ),
          }),
        ),
      }),
    ),
    approximateSearches,
    ms: z.number(),
  }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'POST', path: '/v1/agents/{agent}/search/evaluate' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'search eval',
    args: ['questions'],
    files: ['questions'],
    columns: ['similarityWeight', 'scoreWeight', 'hitAt1', 'hitAt5', 'mrrAt10', 'ndcgAt10'],
    summary: (r) => {
      const first = r.settings[0];
      const shown = first.misses.slice(0, 10).map(
        (m) =>
          `  line ${m.line}: "${cut(m.query, 60)}" wanted "${cut(m.target.input, 50)}" (rank ${m.firstRelevantRank ?? '>10'}); first was "${cut(m.above[0]?.input ?? '', 50)}"`,
      );
      return (
        `${r.questions} questions (${r.source === 'judgments' ? 'stored judgments' : 'labelled set'}) on agent "${r.agent}", in ${r.ms} ms.` +
        (first.misses.length ? `\nNot first at α ${first.similarityWeight}, β ${first.scoreWeight} (${first.misses.length}):\n${shown.join('\n')}` : '') +
        (first.misses.length > shown.length ? `\n  … and ${first.misses.length - shown.length} more (--json lists all)` : '') +
        '\n' + approximateNote(r.approximateSearches)
      );
    },
    examples: [
      'exemplar search eval data/demo/search-eval.jsonl --agent demo-coding-assistant',
      'exemplar search eval questions.jsonl --agent code-helper --compare 0.6,0.4 0.8,0.2 1,0',
      'exemplar search eval --agent code-helper        # the relevance judgments people made',
    ],
  },
  run: async ({ agent, questions, compare }, { app }) => app.relevance.evaluate(agent, questions, compare?.map(toWeights)),
});

export const tuneSearch = defineOperation({
  name: 'tune_search',
  rateLimit: 'heavy',
  title: "Tune an agent's search weights",
  description:
    'Searches α (similarity weight) and β = 1 − α over a grid on labelled questions (as evaluate_search takes them, or the stored relevance ' +
    'judgments) and reports hit@1, hit@5, MRR@10 and nDCG@10 for each. The best setting maximises nDCG@10, which counts ' +
    'relevance first and reward among relevant results. With apply, stores the best α and β on the agent (audited).',
  input: z.object({
    agent: agentRefInput,
    questions: briefInToolList(labelSource, 'description'),
    step: z.number().min(0.01).max(0.5).default(0.05).describe('Grid step for α, from 0 to 1'),
    apply: z.boolean().default(false).describe("Store the best weights on the agent (needs write access)"),
    fileName: z.string().optional().describe('Name of the labelled file, for messages'),
  }),
  output: z.object({
    agent: z.string(),
    source: z.enum(['questions', 'judgments']),
    questions: z.number().int(),
    objective: z.literal('ndcgAt10'),
    grid: z.array(z.object({ ...weights, ...metrics })),
    current: z.object({ ...weights, ...metrics }).describe("The agent's weights before tuning"),
    best: z.object({ ...weights, ...metrics }),
    applied: z.boolean(),
    approximateSearches,
    ms: z.number(),
  }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'POST', path: '/v1/agents/{agent}/search/tune' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'search tune',
    args: ['questions'],
    files: ['questions'],
    columns: ['similarityWeight', 'scoreWeight', 'hitAt1', 'hitAt5', 'mrrAt10', 'ndcgAt10'],
    summary: (r) =>
      `${r.questions} questions on agent "${r.agent}", ${r.grid.length} settings in ${r.ms} ms.\n` +
      `Now:  α ${r.current.similarityWeight}, β ${r.current.scoreWeight}: nDCG@10 ${r.current.ndcgAt10}, hit@1 ${r.current.hitAt1}, hit@5 ${r.current.hitAt5}\n` +
      `Best: α ${r.best.similarityWeight}, β ${r.best.scoreWeight}: nDCG@10 ${r.best.ndcgAt10}, hit@1 ${r.best.hitAt1}, hit@5 ${r.best.hitAt5}` +
      (r.applied ? ' (applied)' : r.best.ndcgAt10 > r.current.ndcgAt10 ? ' (pass --apply to store it)' : ' (no better than now)') +
      '\n' + approximateNote(r.approximateSearches),
    examples: [
      'exemplar search tune data/demo/search-eval.jsonl --agent demo-coding-assistant',
      'exemplar search tune --agent code-helper --apply      # on the stored relevance judgments',
    ],
  },
  run: async ({ agent, questions, step, apply }, { app, actor, access }) => {
    if (apply) {
      const ref = await app.agents.resolve(agent);
      if (!canWrite(access, ref.id)) throw new ForbiddenError(`this key may not change agent "${ref.name}" (it has read access only): apply needs write access`);
    }
    return app.relevance.tune(agent, questions, { step, apply, actor });
  },
});

const judgment = z.object({
  query: z.string(),
  exampleId: z.string(),
  grade: z.number().int(),
  judgedBy: z.string(),
  judgedByName: z.string().describe("Who, for people: the API key's name for key:<id>, otherwise judgedBy"),
  judgedAt: z.string().describe('ISO 8601'),
});

export const judgeResult = defineOperation({
  name: 'judge_result',
  title: 'Judge a search result',
  description:
    'Records whether an example is relevant to a search query: grade 1 relevant (2 or 3 more so), 0 not relevant. A new ' +
    'judgment of the same query and example replaces the old one. Judgments are the labelled set that evaluate_search and ' +
    'tune_search use when no file is given.',
  input: judgeInput.extend({ agent: agentRefInput }),
  output: judgment,
  access: { agent: (i) => i.agent, level: 'write' },
  http: { method: 'POST', path: '/v1/agents/{agent}/judgments' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'search judge',
    args: ['query'],
    summary: (j) => `Judged ${j.exampleId} ${j.grade > 0 ? `relevant (grade ${j.grade})` : 'not relevant'} for "${j.query}".`,
    examples: [
      'exemplar search judge "read a csv file in python" --agent demo-coding-assistant --example-id <id> --grade 1',
      'exemplar search judge "docker build is slow" --agent demo-coding-assistant --example-id <id> --grade 0',
    ],
  },
  run: async ({ agent, ...input }, { app, actor }) => toJson(await app.relevance.judge(agent, input, actor)),
});

export const listJudgments = defineOperation({
  name: 'list_judgments',
  title: 'List relevance judgments',
  description: "Lists an agent's relevance judgments, newest first, optionally for one query.",
  input: z.object({
    agent: agentRefInput,
    query: z.string().optional().describe('Only judgments of this query'),
    limit: z.number().int().min(1).max(10_000).default(1000).describe('At most this many'),
  }),
  output: z.object({ items: z.array(judgment) }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'GET', path: '/v1/agents/{agent}/judgments' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: { command: 'search judgments', columns: ['judgedAt', 'grade', 'query', 'exampleId', 'judgedByName'] },
  run: async ({ agent, query, limit }, { app }) => ({ items: toJson(await app.relevance.judgments(agent, { query, limit })) }),
});

function cut(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
