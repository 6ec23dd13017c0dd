import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Database } from '../db/database.ts';

/** One change in `index_outbox`: which example of which agent changed, in which transaction. */
export interface FeedRow {
  id: number;
  agentId: string;
  exampleId: string;
  txid: bigint;
}

export interface FeedPage {
  rows: FeedRow[];
  /**
   * pg_snapshot_xmin of the snapshot the page was read with: every transaction below it has ended,
   * so every feed row with a smaller txid was visible to this read (or is gone for good).
   */
  horizon: bigint;
  /**
   * Per agent asked about (see read), the highest txid pruning removed from its rows: a reader of
   * that agent at or below it may have lost rows. Agents never pruned are absent.
   */
  prunedThrough: Map<string, bigint>;
}

/** Where a reader stands: every row with txid < position applied, plus `applied` of the rows above. */
export interface FeedPosition {
  position: bigint;
  applied: number[];
}

export interface FeedConsumer {
  id: string;
  host: string;
  pid: number;
  role: string;
  startedAt: string;
  /** Seconds since its last heartbeat. */
  lastSeenSeconds: number;
  /** Feed rows it has not applied yet, per agent, and the age of the oldest (seconds). */
  lag: Map<string, { changes: number; seconds: number }>;
}

export interface FeedOptions {
  /** Rows older than this are pruned even if a live consumer has not passed them. */
  retentionMs: number;
  /** A consumer not heard from for this long is not live: it no longer holds rows back. */
  consumerTimeoutMs: number;
}

/** Rows deleted per prune statement, so one prune never holds a lock on a huge feed for long. */
const PRUNE_BATCH = 50_000;
/** A heartbeat carries at most this many applied ids above its position; beyond it, status over-counts a little. */
const MAX_APPLIED_IN_HEARTBEAT = 10_000;

/**
 * The change feed in `index_outbox` (migration 008), shared by every process over one database.
 * Readers never delete: each keeps its own position, and long-running ones register in
 * `index_consumers` with a heartbeat so pruning knows what they still need.
 */
export class ChangeFeed {
  constructor(
    private readonly db: Database,
    readonly options: FeedOptions,
  ) {}

  /** The current horizon: every row with a smaller txid is final. */
  async horizon(): Promise<bigint> {
    const { rows } = await this.db.query<{ h: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h');
    return BigInt(rows[0].h);
  }

  /**
   * A position to start an index from, taken before reading the table to build or reconcile it:
   * the horizon, and the agent's rows above it that are already committed (so the reads that follow
   * see their changes). Those count as applied; without them a transaction left open anywhere on
   * the server would make every row since it look unapplied.
   */
  async start(agentId: string): Promise<{ horizon: bigint; applied: Map<number, bigint> }> {
    const { rows } = await this.db.query<{ h: string; id: number | null; txid: string | null }>(
      `SELECT s.h::text, o.id, o.txid::text
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS h) s
         LEFT JOIN index_outbox o ON o.txid >= s.h AND o.agent_id = $1`,
      [agentId],
    );
    const applied = new Map<number, bigint>();
    for (const r of rows) if (r.id !== null) applied.set(Number(r.id), BigInt(r.txid!));
    return { horizon: BigInt(rows[0].h), applied };
  }

  /**
   * Rows after `after` in (txid, id) order, with the horizon of the same snapshot and the prune
   * marks of `markAgents` (read in that snapshot too, so no prune can fall between them and the
   * rows). Pass `{ txid: from, id: -1 }` for every row with txid >= from.
   */
  async read(after: { txid: bigint; id: number }, limit: number, agentIds?: string[], markAgents: string[] = []): Promise<FeedPage> {
    const { rows } = await this.db.query<{ horizon: string; marks: string[] | null; id: number | null; agentId: string; exampleId: string; txid: string }>(
      `SELECT s.horizon::text, s.marks, o.id, o.agent_id::text AS "agentId", o.example_id::text AS "exampleId", o.txid::text
         FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS horizon,
                      (SELECT array_agg(agent_id::text || ' ' || pruned_through::text) FROM index_feed_pruned WHERE agent_id = ANY($5::uuid[])) AS marks) s
         LEFT JOIN LATERAL (
           SELECT id, agent_id, example_id, txid FROM index_outbox
            WHERE (txid, id) > ($1::xid8, $2::bigint) AND ($3::uuid[] IS NULL OR agent_id = ANY($3::uuid[]))
            ORDER BY txid, id LIMIT $4
         ) o ON true`,
      [after.txid.toString(), after.id, agentIds ?? null, limit, markAgents],
    );
    const prunedThrough = new Map<string, bigint>();
    for (const m of rows[0].marks ?? []) {
      const [agentId, txid] = m.split(' ');
      prunedThrough.set(agentId, BigInt(txid));
    }
    return {
      horizon: BigInt(rows[0].horizon),
      prunedThrough,
      rows: rows.filter((r) => r.id !== null).map((r) => ({ id: Number(r.id), agentId: r.agentId, exampleId: r.exampleId, txid: BigInt(r.txid) })),
    };
  }

  /** Registers a long-running reader; returns its id for heartbeats. */
  async register(role: string, at: FeedPosition): Promise<string> {
    const id = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    await this.db.query(
      `INSERT INTO index_consumers (id, host, pid, role, position, applied) VALUES ($1, $2, $3, $4, $5::xid8, $6::bigint[])`,
      [id, os.hostname(), process.pid, role, at.position.toString(), at.applied.slice(0, MAX_APPLIED_IN_HEARTBEAT)],
    );
    return id;
  }

  /** Records that the reader is alive and where it stands. Re-registers it if pruning dropped it. */
  async heartbeat(id: string, role: string, at: FeedPosition): Promise<void> {
    const applied = at.applied.length > MAX_APPLIED_IN_HEARTBEAT ? [] : at.applied;
    const { rowCount } = await this.db.query(
      `UPDATE index_consumers SET heartbeat_at = now(), position = $2::xid8, applied = $3::bigint[] WHERE id = $1`,
      [id, at.position.toString(), applied],
    );
    if (rowCount === 0) {
      await this.db.query(
        `INSERT INTO index_consumers (id, host, pid, role, position, applied) VALUES ($1, $2, $3, $4, $5::xid8, $6::bigint[]) ON CONFLICT (id) DO NOTHING`,
        [id, os.hostname(), process.pid, role, at.position.toString(), applied],
      );
    }
  }

  async unregister(id: string): Promise<void> {
    await this.db.query('DELETE FROM index_consumers WHERE id = $1', [id]);
  }

  /**
   * Deletes rows that every holder has passed, and rows older than the retention window. Holders
   * are the live consumers and, for an agent's rows, the pgvector backend's position for that agent
   * (example_vectors_feed): a row nobody holds stays until retention, as before pgvector counted.
   * Work shared by all replicas: an advisory lock (per schema, since advisory locks are per
   * database) lets one replica do it per tick; the others get `undefined` and skip.
   */
  async prune(): Promise<number | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ got: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.exemplar_feed_prune')) AS got`);
      if (!rows[0].got) return undefined;
      const params = [this.options.consumerTimeoutMs, this.options.retentionMs];
      let deleted = 0;
      for (;;) {
        // least() skips NULLs: a row goes once it is below every holder there is, and never for want
        // of holders. The marks are written here, so no reader can see the rows gone and not the mark.
        const { rows: r } = await tx.query<{ n: number }>(
          `WITH live AS (SELECT min(position) AS p FROM index_consumers WHERE heartbeat_at > now() - $1 * interval '1 millisecond'),
                d AS (DELETE FROM index_outbox WHERE id IN (
                        SELECT o.id FROM index_outbox o LEFT JOIN example_vectors_feed f ON f.agent_id = o.agent_id
                         WHERE o.txid < least((SELECT p FROM live), f.position) OR o.queued_at < now() - $2 * interval '1 millisecond'
                         LIMIT ${PRUNE_BATCH})
                      RETURNING agent_id, txid),
                marks AS (INSERT INTO index_feed_pruned (agent_id, pruned_through) SELECT agent_id, max(txid) FROM d GROUP BY agent_id
                          ON CONFLICT (agent_id) DO UPDATE SET pruned_through = greatest(index_feed_pruned.pruned_through, EXCLUDED.pruned_through)),
                -- The global mark of migration 008, for processes of the previous release during a rolling upgrade.
                mark AS (UPDATE index_feed SET pruned_through = greatest(pruned_through, (SELECT max(txid) FROM d))
                          WHERE EXISTS (SELECT 1 FROM d))
           SELECT count(*)::int AS n FROM d`,
          params,
        );
        deleted += r[0].n;
        if (r[0].n < PRUNE_BATCH) break;
      }
      // A consumer silent for a whole retention window has lost its rows anyway.
      await tx.query(`DELETE FROM index_consumers WHERE heartbeat_at < now() - $1 * interval '1 millisecond'`, [this.options.retentionMs]);
      // A deleted agent's mark: nobody reads its feed any more once its rows are gone.
      await tx.query(
        `DELETE FROM index_feed_pruned p WHERE NOT EXISTS (SELECT 1 FROM agents a WHERE a.id = p.agent_id)
            AND NOT EXISTS (SELECT 1 FROM index_outbox o WHERE o.agent_id = p.agent_id)`,
      );
      return deleted;
    });
  }

  /** Live consumers with their lag per agent, by the position each last reported. */
  async consumers(): Promise<FeedConsumer[]> {
    const { rows } = await this.db.query<{
      id: string; host: string; pid: number; role: string; startedAt: string; seen: number; agentId: string | null; changes: number; seconds: number | null;
    }>(
      `SELECT c.id, c.host, c.pid, c.role, to_char(c.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "startedAt",
              extract(epoch FROM now() - c.heartbeat_at)::float8 AS seen,
              o.agent_id::text AS "agentId", count(o.id)::int AS changes, extract(epoch FROM now() - min(o.queued_at))::float8 AS seconds
         FROM index_consumers c
         LEFT JOIN index_outbox o ON o.txid >= c.position AND o.id <> ALL (c.applied)
        WHERE c.heartbeat_at > now() - $1 * interval '1 millisecond'
        GROUP BY c.id, o.agent_id
        ORDER BY c.started_at, c.id`,
      [this.options.consumerTimeoutMs],
    );
    const byId = new Map<string, FeedConsumer>();
    for (const r of rows) {
      let c = byId.get(r.id);
      if (!c) {
        c = { id: r.id, host: r.host, pid: r.pid, role: r.role, startedAt: r.startedAt, lastSeenSeconds: Math.round(r.seen * 1000) / 1000, lag: new Map() };
        byId.set(r.id, c);
      }
      if (r.agentId) c.lag.set(r.agentId, { changes: r.changes, seconds: Math.max(0, r.seconds ?? 0) });
    }
    return [...byId.values()];
  }
}
