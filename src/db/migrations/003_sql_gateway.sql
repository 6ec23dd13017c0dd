-- The SQL gateway (run_sql, describe_schema). A key scoped to some agents must see only their rows,
-- through any query. Row-level security would do, but superusers and table owners (what Exemplar
-- connects as, and what PGlite always is) bypass it. So the gateway uses an equivalent instead: a
-- schema "<schema>_scoped" with one view per readable table, of the same name and columns, that
-- keeps only the rows of the agents in the transaction setting exemplar.agent_ids. A scoped query
-- runs with search_path set to that schema alone, and the gateway refuses everything that could
-- leave it: SET, set_config() and every other VOLATILE function, and schema-qualified names.
-- security_barrier stops a query's own WHERE clause from running before the agent filter, so an
-- error or a function cannot leak rows of other agents.

-- Recreates the views; a migration that changes a readable table's columns calls it again.
CREATE FUNCTION exemplar_create_scoped_views() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  base text := current_schema();
  scoped text := current_schema() || '_scoped';
  mine text := $$ = ANY (string_to_array(current_setting('exemplar.agent_ids', true), ',')::uuid[])$$;
  t text;
BEGIN
  EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', scoped);
  FOREACH t IN ARRAY ARRAY['agents', 'prompt_versions', 'prompt_labels', 'training_examples',
                           'fine_tuning_runs', 'run_examples', 'audit_log'] LOOP
    EXECUTE format('DROP VIEW IF EXISTS %I.%I', scoped, t);
    EXECUTE format('CREATE VIEW %I.%I WITH (security_barrier) AS SELECT * FROM %I.%I WHERE %s',
      scoped, t, base, t,
      CASE t
        WHEN 'agents' THEN 'id' || mine
        WHEN 'run_examples' THEN format('run_id IN (SELECT id FROM %I.fine_tuning_runs WHERE agent_id%s)', base, mine)
        ELSE 'agent_id' || mine
      END);
  END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
  -- A database user that may not create schemas still gets Exemplar; only scoped SQL is unavailable.
  RAISE WARNING 'Exemplar could not create schema % (%); scoped run_sql is unavailable', scoped, SQLERRM;
END $fn$;

SELECT exemplar_create_scoped_views();

-- describe_schema shows these comments to people and models writing SQL.
COMMENT ON TABLE agents IS 'One row per agent: the owner of training examples, prompt versions and fine-tuning runs.';
COMMENT ON COLUMN agents.name IS 'Unique name, e.g. demo-coding-assistant.';
COMMENT ON COLUMN agents.similarity_weight IS 'α in the hybrid search rank α·similarity + β·reward (default 0.6).';
COMMENT ON COLUMN agents.score_weight IS 'β in the hybrid search rank α·similarity + β·reward (default 0.4).';
COMMENT ON COLUMN agents.embedding_model IS 'Embedding model of the agent''s vector index: hashing, openai:<model> or transformers:<model>.';

COMMENT ON TABLE training_examples IS 'Training examples: a prompt, the completion the agent gave, and how good it was.';
COMMENT ON COLUMN training_examples.agent_id IS 'The agent (agents.id).';
COMMENT ON COLUMN training_examples.prompt IS 'The input (user turn, or system and user turns).';
COMMENT ON COLUMN training_examples.completion IS 'The output the agent gave.';
COMMENT ON COLUMN training_examples.reward_score IS 'How good the completion is, 0 (bad) to 1 (good).';
COMMENT ON COLUMN training_examples.example_type IS 'positive (to imitate) or negative (to avoid).';
COMMENT ON COLUMN training_examples.content_hash IS 'sha256 of prompt and completion; the same pair is stored once per agent.';
COMMENT ON COLUMN training_examples.metadata IS 'Free-form JSON object (source, tags, ...).';

COMMENT ON TABLE prompt_versions IS 'Every version of every agent''s system prompt. Versions are immutable and numbered from 1 per agent.';
COMMENT ON COLUMN prompt_versions.agent_id IS 'The agent (agents.id).';
COMMENT ON COLUMN prompt_versions.source IS 'How it was made: manual, optimized (by an LLM) or rollback.';
COMMENT ON COLUMN prompt_versions.based_on_version IS 'The version it was derived from, if any.';
COMMENT ON COLUMN prompt_versions.example_ids IS 'training_examples.id of the examples used to write it.';

COMMENT ON TABLE prompt_labels IS 'Movable labels (production, candidate, ...) pointing at a prompt version: (agent_id, version) is prompt_versions(agent_id, version).';

COMMENT ON TABLE fine_tuning_runs IS 'Fine-tuning runs: backend, base model, dataset hashes, status and resulting model.';
COMMENT ON COLUMN fine_tuning_runs.agent_id IS 'The agent (agents.id).';
COMMENT ON COLUMN fine_tuning_runs.status IS 'pending, validating, queued, running, succeeded, failed or cancelled.';

COMMENT ON TABLE run_examples IS 'Which examples, with their content hashes, went into which fine-tuning run (run_id is fine_tuning_runs.id, example_id is training_examples.id, which may since have been deleted).';

COMMENT ON TABLE audit_log IS 'Who changed what and when. actor is cli:<user>, key:<api key id> or system; agent_id is null for changes that concern no agent.';
