-- index_outbox becomes a feed every process reads from its own position, instead of a queue whose
-- rows the first reader deleted (so other replicas never saw them).
--
-- Positions are transaction ids, not outbox ids: an id is taken at insert but becomes visible at
-- commit, so a reader that advanced past id 12 while id 11's transaction was still open would skip
-- 11 for good. A row whose txid is below pg_snapshot_xmin of a reader's snapshot can no longer
-- change (its transaction has ended), so "every row with txid < position is applied" is a position
-- that never skips. Existing rows get this migration's id, which every reader treats as old.
ALTER TABLE index_outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
DROP INDEX IF EXISTS idx_index_outbox_agent;
CREATE INDEX idx_index_outbox_txid ON index_outbox (txid, id);
CREATE INDEX idx_index_outbox_agent_txid ON index_outbox (agent_id, txid);

-- Long-running processes that read the feed (exemplar serve, exemplar mcp, sync --watch). Rows are
-- pruned once every live consumer (heartbeat recent) has passed them, or once older than the
-- retention window. One-off CLI commands never register: they reconcile with the table on load.
CREATE TABLE index_consumers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  role text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  -- Every feed row with txid < position is applied; of the rows above it, those in `applied` are too.
  position xid8 NOT NULL,
  applied bigint[] NOT NULL DEFAULT '{}'
);

-- The highest txid pruning ever removed. A reader whose position is not above it may have lost
-- rows (it was away past the retention window, or not yet registered) and reconciles instead.
CREATE TABLE index_feed (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  pruned_through xid8
);
INSERT INTO index_feed (singleton) VALUES (true);
