-- pgvector on a shared server.
--
-- 1. Migration 002 created the extension in Exemplar's own schema (the first on the search path).
--    Extensions are per database, so a second Exemplar schema in the same database could not see the
--    vector type, and dropping the first schema dropped the extension with every other schema's
--    vectors. Move it to public, which every Exemplar connection has on its search path. An
--    extension that lives anywhere else was put there by an operator and stays where it is.
-- 2. The pgvector backend's place in the shared change feed (migration 008). Its vectors are shared
--    by every process, so their position is too, one per agent: every feed row of the agent with a
--    txid below it is in example_vectors. It reads the feed and deletes nothing from it.
-- 3. A server that got pgvector after migration 002 ran (the local test server, an RDS instance
--    where it was enabled later) gets the table now, the same as 002 would have made it.
DO $$
BEGIN
  IF current_schema() <> 'public' AND EXISTS (
    SELECT 1 FROM pg_extension WHERE extname = 'vector' AND extnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
  ) THEN
    ALTER EXTENSION vector SET SCHEMA public;
  END IF;
  IF to_regclass('example_vectors') IS NULL AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
    CREATE TABLE example_vectors (
      example_id uuid PRIMARY KEY REFERENCES training_examples (id) ON DELETE CASCADE,
      agent_id uuid NOT NULL,
      model text NOT NULL,
      content_hash text NOT NULL,
      -- No fixed dimension: each agent's model decides it. Each model gets its own HNSW index over
      -- embedding::vector(D), made by the pgvector backend when it first writes that model's vectors.
      embedding vector NOT NULL,
      embedded_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_example_vectors_agent ON example_vectors (agent_id, model);
  END IF;
END $$;

CREATE TABLE example_vectors_feed (
  agent_id uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
  position xid8 NOT NULL
);
