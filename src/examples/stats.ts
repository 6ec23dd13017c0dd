import type { AgentService } from '../agents/agents.ts';
import type { Database } from '../db/database.ts';
import { ValidationError } from '../errors.ts';
import { EXAMPLE_SOURCES } from './origin.ts';

/** Sources as stats count them: examples older than the source column are `unknown`. */
export const STATS_SOURCES = [...EXAMPLE_SOURCES, 'unknown'] as const;
type StatsSource = (typeof STATS_SOURCES)[number];

export interface WeekStats {
  /** The Monday the week starts on (UTC), YYYY-MM-DD. */
  week: string;
  /** Examples created that week, and of them, how many of each type. */
  added: number;
  positive: number;
  negative: number;
  /** Mean and median of the current reward of the examples created that week; null for none. */
  meanReward: number | null;
  medianReward: number | null;
  bySource: Record<StatsSource, number>;
  /** Ratings made that week (reward history rows), by anyone. */
  ratings: number;
}

export interface AgentStats {
  agent: string;
  agentId: string;
  total: number;
  byType: { positive: number; negative: number };
  meanReward: number | null;
  medianReward: number | null;
  bySource: Record<StatsSource, number>;
  weeks: WeekStats[];
  rewardHistogram: { from: number; to: number; count: number; positive: number; negative: number }[];
  usage: {
    /** Examples never returned by a search, nor put in a built dataset or a fine-tuning run, since tracking began. */
    neverUsed: number;
    neverUsedShare: number;
    searched: number;
    inDatasets: number;
    /** When use started to be recorded (the migration that added it): older uses are unknown. */
    trackedSince: Date | null;
  };
}

const round = (n: number | null) => (n === null ? null : Math.round(n * 10000) / 10000);
const zeroSources = () => Object.fromEntries(STATS_SOURCES.map((s) => [s, 0])) as Record<StatsSource, number>;

/** An agent's example quality over time: the numbers behind the workbench's charts and `exemplar stats`. */
export async function agentStats(db: Database, agents: AgentService, agentRef: string, opts: { weeks: number; buckets: number }): Promise<AgentStats> {
  if (!Number.isInteger(opts.weeks) || opts.weeks < 1 || opts.weeks > 520) throw new ValidationError('weeks', 'must be a whole number from 1 to 520');
  if (!Number.isInteger(opts.buckets) || opts.buckets < 2 || opts.buckets > 100) throw new ValidationError('buckets', 'must be a whole number from 2 to 100');
  const agent = await agents.resolve(agentRef);
  const id = agent.id;
  // Weeks start on Monday, in UTC; the last one is the current week.
  const weeksCte = `WITH w AS (
      SELECT generate_series(date_trunc('week', now() AT TIME ZONE 'UTC') - ($2::int - 1) * interval '1 week',
                             date_trunc('week', now() AT TIME ZONE 'UTC'), interval '1 week') AS week)`;
  const [overall, histogram, sources, weeks, weekSources, ratings, usage] = await Promise.all([
    db.query<{ total: number; positive: number; negative: number; mean: number | null; median: number | null }>(
      `SELECT count(*)::int AS total, count(*) FILTER (WHERE example_type = 'positive')::int AS positive,
              count(*) FILTER (WHERE example_type = 'negative')::int AS negative,
              avg(reward_score)::float8 AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY reward_score)::float8 AS median
         FROM training_examples WHERE agent_id = $1`,
      [id],
    ),
    db.query<{ bucket: number; count: number; positive: number; negative: number }>(
      `SELECT least(width_bucket(reward_score, 0, 1, $2), $2) AS bucket, count(*)::int AS count,
              count(*) FILTER (WHERE example_type = 'positive')::int AS positive,
              count(*) FILTER (WHERE example_type = 'negative')::int AS negative
         FROM training_examples WHERE agent_id = $1 GROUP BY 1`,
      [id, opts.buckets],
    ),
    db.query<{ source: StatsSource; n: number }>(
      `SELECT coalesce(source, 'unknown') AS source, count(*)::int AS n FROM training_examples WHERE agent_id = $1 GROUP BY 1`,
      [id],
    ),
    db.query<{ week: string; added: number; positive: number; negative: number; mean: number | null; median: number | null }>(
      `${weeksCte}
       SELECT to_char(w.week, 'YYYY-MM-DD') AS week, count(e.id)::int AS added,
              count(e.id) FILTER (WHERE e.example_type = 'positive')::int AS positive,
              count(e.id) FILTER (WHERE e.example_type = 'negative')::int AS negative,
              avg(e.reward_score)::float8 AS mean, percentile_cont(0.5) WITHIN GROUP (ORDER BY e.reward_score)::float8 AS median
         FROM w LEFT JOIN training_examples e
           ON e.agent_id = $1 AND e.created_at >= (w.week AT TIME ZONE 'UTC') AND e.created_at < ((w.week + interval '1 week') AT TIME ZONE 'UTC')
        GROUP BY w.week ORDER BY w.week`,
      [id, opts.weeks],
    ),
    db.query<{ week: string; source: StatsSource; n: number }>(
      `SELECT to_char(date_trunc('week', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS week, coalesce(source, 'unknown') AS source, count(*)::int AS n
         FROM training_examples
        WHERE agent_id = $1 AND created_at >= (date_trunc('week', now() AT TIME ZONE 'UTC') - ($2::int - 1) * interval '1 week') AT TIME ZONE 'UTC'
        GROUP BY 1, 2`,
      [id, opts.weeks],
    ),
    db.query<{ week: string; n: number }>(
      `SELECT to_char(date_trunc('week', at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS week, count(*)::int AS n
         FROM example_reward_history
        WHERE agent_id = $1 AND at >= (date_trunc('week', now() AT TIME ZONE 'UTC') - ($2::int - 1) * interval '1 week') AT TIME ZONE 'UTC'
        GROUP BY 1`,
      [id, opts.weeks],
    ),
    db.query<{ never: number; searched: number; datasets: number; since: Date | null }>(
      `SELECT count(*) FILTER (WHERE u.example_id IS NULL AND NOT EXISTS (SELECT 1 FROM run_examples r WHERE r.example_id = e.id))::int AS never,
              count(u.last_searched_at)::int AS searched,
              count(*) FILTER (WHERE u.last_dataset_at IS NOT NULL OR EXISTS (SELECT 1 FROM run_examples r WHERE r.example_id = e.id))::int AS datasets,
              (SELECT applied_at FROM schema_migrations WHERE name = 'example_history') AS since
         FROM training_examples e LEFT JOIN example_usage u ON u.example_id = e.id
        WHERE e.agent_id = $1`,
      [id],
    ),
  ]);
  const o = overall.rows[0];
  const bySource = zeroSources();
  for (const r of sources.rows) bySource[r.source] = r.n;
  const weekSource = new Map<string, Record<StatsSource, number>>();
  for (const r of weekSources.rows) {
    const m = weekSource.get(r.week) ?? zeroSources();
    m[r.source] = r.n;
    weekSource.set(r.week, m);
  }
  const ratingsByWeek = new Map(ratings.rows.map((r) => [r.week, r.n]));
  const buckets = new Map(histogram.rows.map((r) => [r.bucket, r]));
  const u = usage.rows[0];
  return {
    agent: agent.name,
    agentId: agent.id,
    total: o.total,
    byType: { positive: o.positive, negative: o.negative },
    meanReward: round(o.mean),
    medianReward: round(o.median),
    bySource,
    weeks: weeks.rows.map((w) => ({
      week: w.week,
      added: w.added,
      positive: w.positive,
      negative: w.negative,
      meanReward: round(w.mean),
      medianReward: round(w.median),
      bySource: weekSource.get(w.week) ?? zeroSources(),
      ratings: ratingsByWeek.get(w.week) ?? 0,
    })),
    rewardHistogram: Array.from({ length: opts.buckets }, (_, i) => {
      const b = buckets.get(i + 1);
      return { from: round(i / opts.buckets)!, to: round((i + 1) / opts.buckets)!, count: b?.count ?? 0, positive: b?.positive ?? 0, negative: b?.negative ?? 0 };
    }),
    usage: {
      neverUsed: u.never,
      neverUsedShare: o.total === 0 ? 0 : round(u.never / o.total)!,
      searched: u.searched,
      inDatasets: u.datasets,
      trackedSince: u.since,
    },
  };
}
