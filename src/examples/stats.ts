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
  // Three scans of the agent's examples, each grouped once (GROUPING SETS: the fine groups and a
  // total with its median), and a look at the reward history. Weeks start on Monday, in UTC.
  const since = `(date_trunc('week', now() AT TIME ZONE 'UTC') - ($2::int - 1) * interval '1 week')`;
  const [overall, weekly, ratings, usage] = await Promise.all([
    db.query<{ bucket: number | null; type: 'positive' | 'negative' | null; source: StatsSource | null; n: number; sum: number; median: number | null }>(
      `SELECT least(width_bucket(reward_score, 0, 1, $2), $2) AS bucket, example_type AS type, coalesce(source, 'unknown') AS source,
              count(*)::int AS n, sum(reward_score)::float8 AS sum,
              CASE WHEN GROUPING(example_type) = 1 THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY reward_score)::float8 END AS median
         FROM training_examples WHERE agent_id = $1
        GROUP BY GROUPING SETS ((1, example_type, 3), ())`,
      [id, opts.buckets],
    ),
    db.query<{ week: string; type: 'positive' | 'negative' | null; source: StatsSource | null; n: number; sum: number; median: number | null }>(
      `SELECT to_char(date_trunc('week', created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS week, example_type AS type,
              coalesce(source, 'unknown') AS source, count(*)::int AS n, sum(reward_score)::float8 AS sum,
              CASE WHEN GROUPING(example_type) = 1 THEN percentile_cont(0.5) WITHIN GROUP (ORDER BY reward_score)::float8 END AS median
         FROM training_examples
        WHERE agent_id = $1 AND created_at >= ${since} AT TIME ZONE 'UTC'
        GROUP BY GROUPING SETS ((1, example_type, 3), (1))`,
      [id, opts.weeks],
    ),
    db.query<{ week: string; n: number }>(
      `SELECT to_char(date_trunc('week', at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS week, count(*)::int AS n
         FROM example_reward_history
        WHERE agent_id = $1 AND at >= ${since} AT TIME ZONE 'UTC'
        GROUP BY 1`,
      [id, opts.weeks],
    ),
    db.query<{ never: number; searched: number; datasets: number; since: Date | null; weeks: string[] }>(
      `SELECT count(*) FILTER (WHERE u.example_id IS NULL AND r.example_id IS NULL)::int AS never,
              count(u.last_searched_at)::int AS searched,
              count(*) FILTER (WHERE u.last_dataset_at IS NOT NULL OR r.example_id IS NOT NULL)::int AS datasets,
              (SELECT applied_at FROM schema_migrations WHERE name = 'example_history') AS since,
              (SELECT array_agg(to_char(w, 'YYYY-MM-DD') ORDER BY w)
                 FROM generate_series(${since}, date_trunc('week', now() AT TIME ZONE 'UTC'), interval '1 week') AS w) AS weeks
         FROM training_examples e
         LEFT JOIN example_usage u ON u.example_id = e.id
         LEFT JOIN (SELECT DISTINCT example_id FROM run_examples) r ON r.example_id = e.id
        WHERE e.agent_id = $1`,
      [id, opts.weeks],
    ),
  ]);
  const byType = { positive: 0, negative: 0 };
  const bySource = zeroSources();
  const histogram = Array.from({ length: opts.buckets }, (_, i) => ({
    from: round(i / opts.buckets)!,
    to: round((i + 1) / opts.buckets)!,
    count: 0,
    positive: 0,
    negative: 0,
  }));
  let total = 0;
  let sum = 0;
  let median: number | null = null;
  for (const r of overall.rows) {
    if (r.type === null) {
      median = r.n > 0 ? r.median : null;
      continue;
    }
    total += r.n;
    sum += r.sum;
    byType[r.type] += r.n;
    bySource[r.source!] += r.n;
    const b = histogram[r.bucket! - 1];
    b.count += r.n;
    b[r.type] += r.n;
  }
  const weeks = new Map<string, WeekStats>();
  const u = usage.rows[0];
  for (const week of u.weeks) {
    weeks.set(week, { week, added: 0, positive: 0, negative: 0, meanReward: null, medianReward: null, bySource: zeroSources(), ratings: 0 });
  }
  for (const r of weekly.rows) {
    const w = weeks.get(r.week);
    if (!w) continue; // created in the future (a clock ahead of the database's)
    if (r.type === null) {
      w.added = r.n;
      w.meanReward = round(r.sum / r.n);
      w.medianReward = round(r.median);
    } else {
      w[r.type] += r.n;
      w.bySource[r.source!] += r.n;
    }
  }
  for (const r of ratings.rows) {
    const w = weeks.get(r.week);
    if (w) w.ratings = r.n;
  }
  return {
    agent: agent.name,
    agentId: agent.id,
    total,
    byType,
    meanReward: total === 0 ? null : round(sum / total),
    medianReward: round(median),
    bySource,
    weeks: [...weeks.values()],
    rewardHistogram: histogram,
    usage: {
      neverUsed: u.never,
      neverUsedShare: total === 0 ? 0 : round(u.never / total)!,
      searched: u.searched,
      inDatasets: u.datasets,
      trackedSince: u.since,
    },
  };
}
