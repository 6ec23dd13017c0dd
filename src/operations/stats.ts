import { z } from 'zod';
import { agentRefInput } from '../agents/agents.ts';
import { agentStats, STATS_SOURCES } from '../examples/stats.ts';
import { defineOperation, toJson } from './operation.ts';

const count = z.number().int();
const bySource = z.object(Object.fromEntries(STATS_SOURCES.map((s) => [s, count])) as Record<(typeof STATS_SOURCES)[number], typeof count>);

export const agentStatsOp = defineOperation({
  name: 'agent_stats',
  title: "An agent's example quality over time",
  description:
    "An agent's example quality over time: reward histogram, counts by type, and per week (UTC) examples added by type and " +
    'source, their mean and median reward, and ratings; and the share never used in a search, dataset or run.',
  input: z.object({
    agent: agentRefInput,
    weeks: z.number().int().min(1).max(520).default(12).describe('Weeks back, with the current one'),
    buckets: z.number().int().min(2).max(100).default(10).describe('Reward histogram buckets'),
  }),
  output: z.object({
    agent: z.string(),
    agentId: z.string(),
    total: count,
    byType: z.object({ positive: count, negative: count }),
    meanReward: z.number().nullable(),
    medianReward: z.number().nullable(),
    bySource,
    weeks: z.array(
      z.object({
        week: z.string().describe('The Monday the week starts on, YYYY-MM-DD (UTC)'),
        added: count,
        positive: count,
        negative: count,
        meanReward: z.number().nullable().describe('Mean current reward of the examples added that week; null for none'),
        medianReward: z.number().nullable(),
        bySource,
        ratings: count.describe('Ratings made that week (reward history entries)'),
      }),
    ),
    rewardHistogram: z.array(
      z.object({ from: z.number(), to: z.number().describe('Exclusive, except the last bucket, which includes 1'), count, positive: count, negative: count }),
    ),
    usage: z.object({
      neverUsed: count.describe('Examples never returned by a search nor put in a dataset or a run'),
      neverUsedShare: z.number().describe('neverUsed / total, 0..1'),
      searched: count,
      inDatasets: count,
      trackedSince: z.string().nullable().describe('When use started to be recorded (ISO 8601); earlier uses are unknown'),
    }),
  }),
  access: { agent: (i) => i.agent, level: 'read' },
  http: { method: 'GET', path: '/v1/agents/{agent}/stats' },
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true },
  cli: {
    command: 'stats',
    columns: ['week', 'added', 'positive', 'negative', 'meanReward', 'medianReward', 'ratings'],
    summary: (s) => {
      const widest = Math.max(1, ...s.rewardHistogram.map((b) => b.count));
      const bars = s.rewardHistogram.map(
        (b) => `  ${b.from.toFixed(2)}-${b.to.toFixed(2)} ${'#'.repeat(Math.round((b.count / widest) * 40)).padEnd(40)} ${b.count}`,
      );
      const sources = Object.entries(s.bySource).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
      return (
        `Agent "${s.agent}": ${s.total} examples (${s.byType.positive} positive, ${s.byType.negative} negative), ` +
        `reward mean ${s.meanReward ?? '-'}, median ${s.medianReward ?? '-'}.\n` +
        `By source: ${sources || 'none'}.\n` +
        `Never used in a search, dataset or run: ${s.usage.neverUsed} (${Math.round(s.usage.neverUsedShare * 100)}%)` +
        `${s.usage.trackedSince ? `, since ${s.usage.trackedSince.slice(0, 10)}` : ''}.\n` +
        `Reward histogram:\n${bars.join('\n')}\n\nBy week (examples added that week):`
      );
    },
    examples: ['exemplar stats --agent demo-coding-assistant', 'exemplar stats --agent code-helper --weeks 52 --json'],
  },
  run: async ({ agent, weeks, buckets }, { app }) => toJson(await agentStats(app.db, app.agents, agent, { weeks, buckets })),
});
