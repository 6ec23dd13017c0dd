-- The workbench (issue 14): who rated each example and when, where each example came from, and
-- when it was last used. A trigger keeps the history, so changes made outside Exemplar (psql) land
-- in it too, as actor "database". Exemplar names the actor of its own writes in the transaction
-- settings exemplar.actor and exemplar.source (set_config(..., true): they end with the transaction).

-- Where an example came from: import (a file), ui, mcp, rest, cli, demo, library (the TypeScript
-- API), or database (written outside Exemplar). Examples older than this migration have none.
ALTER TABLE training_examples ADD COLUMN source text;
ALTER TABLE training_examples ALTER COLUMN source
  SET DEFAULT coalesce(nullif(current_setting('exemplar.source', true), ''), 'database');
ALTER TABLE training_examples ADD CONSTRAINT training_examples_source_check
  CHECK (source IN ('import', 'ui', 'mcp', 'rest', 'cli', 'demo', 'library', 'database'));
CREATE INDEX idx_training_examples_agent_source ON training_examples (agent_id, source);

-- Every rating: a change of reward_score or example_type, or (when Exemplar sets exemplar.rating)
-- a person confirming the values as they are. Creation is not a rating: the first row's old values
-- are what the example was created with. No foreign key: the trail outlives a deleted example.
CREATE TABLE example_reward_history (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  example_id uuid NOT NULL,
  agent_id uuid NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  old_reward double precision NOT NULL,
  new_reward double precision NOT NULL,
  old_type text NOT NULL,
  new_type text NOT NULL
);
CREATE INDEX idx_example_reward_history_example ON example_reward_history (example_id, id);
CREATE INDEX idx_example_reward_history_agent ON example_reward_history (agent_id, at);

-- Statement-level, like the outbox: one INSERT per statement, however many rows it changed.
CREATE FUNCTION exemplar_reward_history_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  who text := coalesce(nullif(current_setting('exemplar.actor', true), ''), 'database');
  rating boolean := coalesce(nullif(current_setting('exemplar.rating', true), ''), 'off') = 'on';
BEGIN
  INSERT INTO example_reward_history (example_id, agent_id, actor, old_reward, new_reward, old_type, new_type)
    SELECT n.id, n.agent_id, who, o.reward_score, n.reward_score, o.example_type, n.example_type
      FROM old_rows o JOIN new_rows n USING (id)
     WHERE rating OR o.reward_score IS DISTINCT FROM n.reward_score OR o.example_type IS DISTINCT FROM n.example_type
     ORDER BY n.id;
  RETURN NULL;
END $$;
CREATE TRIGGER training_examples_reward_history AFTER UPDATE ON training_examples
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION exemplar_reward_history_on_update();

-- When an example was last among search results or in a built dataset. Kept apart from
-- training_examples so that recording a use is not an update of the example (which would feed the
-- index sync and touch updated_at). Search uses are written in batches, off the request path.
CREATE TABLE example_usage (
  example_id uuid PRIMARY KEY REFERENCES training_examples (id) ON DELETE CASCADE,
  agent_id uuid NOT NULL,
  last_searched_at timestamptz,
  last_dataset_at timestamptz
);
CREATE INDEX idx_example_usage_agent ON example_usage (agent_id);

COMMENT ON COLUMN training_examples.source IS 'Where it came from: import, ui, mcp, rest, cli, demo, library or database (written outside Exemplar); null for examples older than this column.';
COMMENT ON TABLE example_reward_history IS 'Every rating of an example: old and new reward_score and example_type, who (cli:<user>, key:<api key id>, or database for changes made outside Exemplar) and when.';
COMMENT ON TABLE example_usage IS 'When each example was last returned by a search or put in a built dataset.';

-- The scoped views of run_sql select * as of their creation: recreate them to show the new column.
SELECT exemplar_create_scoped_views();
