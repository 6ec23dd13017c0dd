-- Exemplar's core schema. PostgreSQL is the source of truth; every index is derived from it.

-- The content hash that deduplicates examples. Declared IMMUTABLE so a generated column can use
-- it: convert_to(..., 'UTF8') only depends on the database encoding, which never changes.
CREATE FUNCTION exemplar_content_hash(prompt text, completion text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN encode(sha256(convert_to(prompt || chr(31) || completion, 'UTF8')), 'hex');

CREATE TABLE agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
  description text NOT NULL DEFAULT '',
  -- The hybrid rank is similarity_weight * similarity + score_weight * reward (α and β).
  similarity_weight double precision NOT NULL DEFAULT 0.6 CHECK (similarity_weight BETWEEN 0 AND 1),
  score_weight double precision NOT NULL DEFAULT 0.4 CHECK (score_weight BETWEEN 0 AND 1),
  embedding_model text NOT NULL DEFAULT 'hashing',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prompt_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  content text NOT NULL,
  source text NOT NULL CHECK (source IN ('manual', 'optimized', 'rollback')),
  model text,
  based_on_version integer,
  example_ids uuid[] NOT NULL DEFAULT '{}',
  note text NOT NULL DEFAULT '',
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agent_id, version)
);

-- Versions are immutable; labels move.
CREATE FUNCTION exemplar_reject_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are immutable', TG_TABLE_NAME;
END $$;
CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
  FOR EACH ROW EXECUTE FUNCTION exemplar_reject_update();

CREATE TABLE prompt_labels (
  agent_id uuid NOT NULL,
  label text NOT NULL CHECK (label ~ '^[a-z][a-z0-9_-]{0,63}$'),
  version integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_id, label),
  FOREIGN KEY (agent_id, version) REFERENCES prompt_versions (agent_id, version) ON DELETE CASCADE
);

CREATE TABLE training_examples (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  prompt text NOT NULL CHECK (length(prompt) > 0),
  completion text NOT NULL,
  reward_score double precision NOT NULL CHECK (reward_score >= 0 AND reward_score <= 1),
  example_type text NOT NULL CHECK (example_type IN ('positive', 'negative')),
  content_hash text NOT NULL GENERATED ALWAYS AS (exemplar_content_hash(prompt, completion)) STORED,
  metadata jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The seed's two indexes.
CREATE INDEX idx_training_examples_agent_reward ON training_examples (agent_id, reward_score DESC);
CREATE INDEX idx_training_examples_type ON training_examples (example_type);
-- Dedup: the same prompt and completion is stored once per agent.
CREATE UNIQUE INDEX idx_training_examples_agent_hash ON training_examples (agent_id, content_hash);
-- Stable cursor pagination, newest first.
CREATE INDEX idx_training_examples_agent_created ON training_examples (agent_id, created_at DESC, id DESC);

CREATE FUNCTION exemplar_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE TRIGGER training_examples_touch BEFORE UPDATE ON training_examples
  FOR EACH ROW EXECUTE FUNCTION exemplar_touch_updated_at();
CREATE TRIGGER agents_touch BEFORE UPDATE ON agents
  FOR EACH ROW EXECUTE FUNCTION exemplar_touch_updated_at();

-- The change feed that drives index sync. Any client's writes land here, psql included.
CREATE TABLE index_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  agent_id uuid NOT NULL,
  example_id uuid NOT NULL,
  op text NOT NULL CHECK (op IN ('upsert', 'delete')),
  queued_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX idx_index_outbox_agent ON index_outbox (agent_id, id);

-- Statement-level triggers with transition tables: one INSERT into the outbox and one NOTIFY per
-- statement, so a 100k-row import pays for the feed once, not per row.
CREATE FUNCTION exemplar_outbox_notify(agent_ids text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF agent_ids IS NOT NULL THEN
    -- NOTIFY payloads are capped at 8000 bytes; listeners treat an empty payload as "all agents".
    PERFORM pg_notify('exemplar_index', CASE WHEN length(agent_ids) < 7900 THEN agent_ids ELSE '' END);
  END IF;
END $$;

CREATE FUNCTION exemplar_outbox_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO index_outbox (agent_id, example_id, op) SELECT agent_id, id, 'upsert' FROM new_rows;
  PERFORM exemplar_outbox_notify((SELECT string_agg(DISTINCT agent_id::text, ',') FROM new_rows));
  RETURN NULL;
END $$;

CREATE FUNCTION exemplar_outbox_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO index_outbox (agent_id, example_id, op)
    SELECT o.agent_id, o.id, 'delete' FROM old_rows o JOIN new_rows n USING (id) WHERE o.agent_id <> n.agent_id
    UNION ALL
    SELECT agent_id, id, 'upsert' FROM new_rows;
  PERFORM exemplar_outbox_notify((SELECT string_agg(DISTINCT agent_id::text, ',')
                                  FROM (SELECT agent_id FROM new_rows UNION SELECT agent_id FROM old_rows) a));
  RETURN NULL;
END $$;

CREATE FUNCTION exemplar_outbox_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO index_outbox (agent_id, example_id, op) SELECT agent_id, id, 'delete' FROM old_rows;
  PERFORM exemplar_outbox_notify((SELECT string_agg(DISTINCT agent_id::text, ',') FROM old_rows));
  RETURN NULL;
END $$;

CREATE TRIGGER training_examples_outbox_insert AFTER INSERT ON training_examples
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION exemplar_outbox_on_insert();
CREATE TRIGGER training_examples_outbox_update AFTER UPDATE ON training_examples
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION exemplar_outbox_on_update();
CREATE TRIGGER training_examples_outbox_delete AFTER DELETE ON training_examples
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION exemplar_outbox_on_delete();

CREATE TABLE fine_tuning_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  backend text NOT NULL,
  base_model text NOT NULL,
  hyperparameters jsonb NOT NULL DEFAULT '{}',
  dataset_format text NOT NULL,
  dataset_sha256 text,
  validation_sha256 text,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'validating', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
  status_history jsonb NOT NULL DEFAULT '[]',
  external_id text,
  result_model text,
  error text,
  logs text NOT NULL DEFAULT '',
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_fine_tuning_runs_agent ON fine_tuning_runs (agent_id, created_at DESC);

-- Which examples, with their content hashes, trained which run. No foreign key to the example:
-- the record must outlive a deleted example.
CREATE TABLE run_examples (
  run_id uuid NOT NULL REFERENCES fine_tuning_runs (id) ON DELETE CASCADE,
  example_id uuid NOT NULL,
  content_hash text NOT NULL,
  split text NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'validation')),
  PRIMARY KEY (run_id, example_id)
);

CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  entity_type text NOT NULL,
  entity_id text,
  -- No foreign key: the trail of a deleted agent stays.
  agent_id uuid,
  details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_audit_log_agent ON audit_log (agent_id, at DESC);

-- (model, sha256(text)) -> vector, so a re-sync never pays for the same embedding twice.
CREATE TABLE embedding_cache (
  model text NOT NULL,
  text_sha256 text NOT NULL,
  dimensions integer NOT NULL,
  embedding bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, text_sha256)
);
