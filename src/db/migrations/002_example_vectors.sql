-- The pgvector backend's table, created only where the extension exists (PGlite bundles it; Neon and
-- most managed PostgreSQL have it). Without it, Exemplar uses its in-memory index alone.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE example_vectors (
      example_id uuid PRIMARY KEY REFERENCES training_examples (id) ON DELETE CASCADE,
      agent_id uuid NOT NULL,
      -- The embedding model id; vectors of two models are never compared.
      model text NOT NULL,
      -- Prefix of the example's content hash when it was embedded: tells a stale vector.
      content_hash text NOT NULL,
      -- No fixed dimension: each agent's model decides it. Searches are exact scans per agent.
      embedding vector NOT NULL,
      embedded_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX idx_example_vectors_agent ON example_vectors (agent_id, model);
  END IF;
END $$;
