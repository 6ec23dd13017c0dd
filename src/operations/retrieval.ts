import { z } from 'zod';
import { canRead } from '../access/access.ts';
import { agentRefInput } from '../agents/agents.ts';
import { exampleType } from '../examples/example.ts';
import { retrieveInput } from '../retrieval/retrieval.ts';
import { defineOperation } from './operation.ts';

const retrievedExample = z.object({
  id: z.string(),
  input: z.string(),
  output: z.string(),
  score: z.number().describe('reward_score'),
  similarity: z.number().nullable().describe('cosine similarity of query and prompt, -1..1 (below 0: unlike the query); null without a query'),
  hybridScore: z.number().nullable().describe('α·similarity + β·score; null without a query'),
  rank: z.number().int(),
  exampleType,
  metadata: z.record(z.string(), z.unknown()),
});

export const searchExamples = defineOperation({
  name: 'search_examples',
  rateLimit: 'search',
  title: 'Search examples (hybrid)',
  description:
    "Finds an agent's best examples for a query: exact filters first (reward >= minScore, type, and any others), then " +
    "a rank by hybrid = α·cosine + β·reward (the raw cosine, -1..1; α and β default to the agent's weights, 0.6 and 0.4). " +
    'Without a query, examples rank by reward (negatives: lowest first). Every result shows its similarity, reward and ' +
    'hybrid score. Use diversity (MMR) or dedupeThreshold to avoid near-identical results. Use this to pick few-shot examples for a task.',
  input: retrieveInput.omit({ agentId: true }).extend({ agent: agentRefInput }),
  output: z.object({
    results: z.array(retrievedExample),
    similarityWeight: z.number(),
    scoreWeight: z.number(),
    model: z.string().describe('Embedding model of the index'),
    exact: z.boolean().describe('false: HNSW, may miss a row'),
    plan: z.string().optional().describe('What answered, when not exact'),
  }),
  access: { agent: (i) => i.agent },
  http: { method: 'POST', path: '/v1/agents/{agent}/search' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'search',
    args: ['query'],
    flags: { exampleType: 'type', similarityWeight: 'alpha', scoreWeight: 'beta' },
    columns: ['rank', 'hybridScore', 'similarity', 'score', 'exampleType', 'input'],
    summary: (r) => `${r.results.length} result${r.results.length === 1 ? '' : 's'}, ${r.exact ? 'exact' : r.plan ?? 'approximate (HNSW)'}.`,
    examples: [
      'exemplar search --agent demo-coding-assistant "read a csv file in python" --min-score 0.8 --top-k 10 --type positive',
      'exemplar search --agent demo-coding-assistant "docker build is slow" --alpha 0.9 --beta 0.1 --diversity 0.3',
      'exemplar search --agent demo-coding-assistant --type negative --top-k 5   # no query: the lowest-rated negatives',
    ],
  },
  run: async ({ agent, ...rest }, { app }) => app.hybridRetrieveBestExamples({ agentId: agent, ...rest }),
});

const syncResult = z.object({
  agentId: z.string(),
  agentName: z.string(),
  model: z.string(),
  rebuilt: z.boolean(),
  upserted: z.number().int(),
  removed: z.number().int(),
  count: z.number().int(),
  ms: z.number(),
});

export const syncIndex = defineOperation({
  name: 'sync_index',
  title: 'Sync the vector index',
  description:
    "Brings an agent's vector index (or every agent's) up to date with the database and saves it. Normally not needed: " +
    'a background worker applies every change within about a second. forceRebuild re-embeds everything into a fresh index.',
  input: z.object({
    agent: z.string().min(1).optional().describe('Agent name or id; all agents when omitted'),
    forceRebuild: z.boolean().default(false).describe('Build a fresh index from the database and swap it in'),
  }),
  output: z.object({ agents: z.array(syncResult) }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'POST', path: '/v1/index/sync' },
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'sync',
    columns: ['agentName', 'model', 'rebuilt', 'upserted', 'removed', 'count', 'ms'],
    examples: ['exemplar sync', 'exemplar sync --agent demo-coding-assistant --force-rebuild', 'exemplar sync --watch'],
    watch: {
      description: 'keep running: apply every change to the indexes within about a second, until Ctrl-C',
      run: async ({ app }, signal) => {
        const worker = await app.startSyncWorker({ role: 'sync --watch' });
        process.stderr.write('Syncing indexes as examples change (Ctrl-C to stop)...\n');
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        process.stderr.write('Stopping: finishing the current batch and saving the indexes...\n');
        await worker.stop();
      },
    },
  },
  run: async ({ agent, forceRebuild }, { app, progress, access }) => {
    const refs = agent ? [agent] : (await app.agents.list()).filter((a) => canRead(access, a.id)).map((a) => a.id);
    const agents = [];
    for (const ref of refs) agents.push(await app.index.sync(ref, { forceRebuild, onProgress: progress }));
    return { agents };
  },
});

export const indexStatus = defineOperation({
  name: 'index_status',
  title: 'Index status',
  description:
    "Shows each agent's vector index: examples indexed versus stored, the sync lag (changes not applied yet and the age of the oldest: " +
    'the worst of this process and every live replica reading the change feed, each also listed), the embedding model and the last sync.',
  input: z.object({}),
  output: z.object({
    items: z.array(
      z.object({
        agentId: z.string(),
        agentName: z.string(),
        model: z.string(),
        count: z.number().int().nullable(),
        examples: z.number().int(),
        lagChanges: z.number().int(),
        lagSeconds: z.number(),
        lastSync: z.string().nullable(),
        processLagChanges: z.number().int().optional().describe("This process's own lag: the index it holds, or the file it would load"),
        processLagSeconds: z.number().optional(),
        consumers: z
          .array(
            z.object({
              id: z.string().describe('host:pid:random of a long-running process reading the change feed'),
              role: z.string(),
              self: z.boolean(),
              lastSeenSeconds: z.number(),
              lagChanges: z.number().int(),
              lagSeconds: z.number(),
            }),
          )
          .optional(),
      }),
    ),
  }),
  access: 'filtered',
  http: { method: 'GET', path: '/v1/index/status' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'index status',
    columns: ['agentName', 'model', 'count', 'examples', 'lagChanges', 'lagSeconds', 'lastSync'],
    summary: (output) => consumersSummary(output.items),
  },
  run: async (_input, { app, access }) => ({ items: (await app.index.status()).filter((s) => canRead(access, s.agentId)) }),
});

/** One line per live feed consumer, its lag summed over the agents shown: the table's lag is the worst of them. */
function consumersSummary(items: { consumers?: { id: string; role: string; self: boolean; lastSeenSeconds: number; lagChanges: number; lagSeconds: number }[] }[]): string {
  const byId = new Map<string, { role: string; self: boolean; seen: number; changes: number; seconds: number }>();
  for (const item of items) {
    for (const c of item.consumers ?? []) {
      const sum = byId.get(c.id) ?? { role: c.role, self: c.self, seen: c.lastSeenSeconds, changes: 0, seconds: 0 };
      sum.changes += c.lagChanges;
      sum.seconds = Math.max(sum.seconds, c.lagSeconds);
      byId.set(c.id, sum);
    }
  }
  if (byId.size === 0) return 'No long-running process is reading the change feed; lag is this process\'s own.';
  const lines = [...byId].map(
    ([id, c]) => `  ${c.role} ${id}${c.self ? ' (this process)' : ''}: ${c.changes} changes behind${c.changes ? `, oldest ${c.seconds} s` : ''}; seen ${c.seen} s ago`,
  );
  return `Processes reading the change feed (lag columns show the worst of them and this process):\n${lines.join('\n')}\n`;
}
