-- The prune mark per agent: the highest txid pruning removed from each agent's feed rows. With one
-- mark for the whole feed (index_feed.pruned_through, migration 008), pruning any agent's rows made
-- every reader below the mark compare every agent it held with the table. Written by the same
-- statement that prunes. No foreign key: feed rows outlive their agent (a delete is a change too).
CREATE TABLE index_feed_pruned (
  agent_id uuid PRIMARY KEY,
  pruned_through xid8 NOT NULL
);
-- What the global mark said holds for every agent until pruning says more.
INSERT INTO index_feed_pruned (agent_id, pruned_through)
  SELECT a.id, f.pruned_through FROM agents a, index_feed f WHERE f.pruned_through IS NOT NULL;
