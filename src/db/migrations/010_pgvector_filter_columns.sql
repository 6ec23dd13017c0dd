-- The pgvector backend filters and ranks HNSW candidates without a join.
--
-- 1. Each vector carries a copy of its example's reward_score and example_type (the standard
--    filters and the β·reward half of the hybrid score). An HNSW candidate then needs no probe of
--    training_examples: at 1M rows the join cost more than the graph walk. The backend keeps the
--    copies current where it writes vectors and from the change feed (every reward or type update
--    is a feed row); a search re-reads its results from training_examples, so a stale copy can
--    hide a row for one catch-up at most, never return a wrong one.
-- 2. The HNSW indexes of migration 009's backend ordered by similarity alone; the backend now makes
--    one per model over the hybrid vector (see PgvectorIndex.ensureHnsw), so the old ones go: they
--    would only cost every write. Dropped before the backfill, so the backfill does not feed them.
-- 3. A writer that leaves the copies out (psql, a replica not yet upgraded) gets them filled in
--    from the example, so nothing but the backend has to know about them.
-- 4. A server that got pgvector after migration 009 ran gets the table now, as 009 would have made it.
CREATE OR REPLACE FUNCTION exemplar_vector_copies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.reward_score IS NULL OR NEW.example_type IS NULL THEN
    SELECT e.reward_score, e.example_type INTO NEW.reward_score, NEW.example_type FROM training_examples e WHERE e.id = NEW.example_id;
  END IF;
  RETURN NEW;
END $$;

DO $$
DECLARE
  old_index text;
BEGIN
  IF to_regclass('example_vectors') IS NOT NULL THEN
    FOR old_index IN
      SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = to_regclass('example_vectors') AND c.relname LIKE 'example\_vectors\_hnsw\_%'
    LOOP
      EXECUTE format('DROP INDEX %I', old_index);
    END LOOP;
    ALTER TABLE example_vectors ADD COLUMN reward_score double precision, ADD COLUMN example_type text;
    UPDATE example_vectors v SET reward_score = e.reward_score, example_type = e.example_type, agent_id = e.agent_id
      FROM training_examples e WHERE e.id = v.example_id;
    ALTER TABLE example_vectors ALTER COLUMN reward_score SET NOT NULL, ALTER COLUMN example_type SET NOT NULL;
  ELSIF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;
    CREATE TABLE example_vectors (
      example_id uuid PRIMARY KEY REFERENCES training_examples (id) ON DELETE CASCADE,
      agent_id uuid NOT NULL,
      model text NOT NULL,
      content_hash text NOT NULL,
      -- No fixed dimension: each agent's model decides it (see PgvectorIndex.ensureHnsw).
      embedding vector NOT NULL,
      embedded_at timestamptz NOT NULL DEFAULT now(),
      reward_score double precision NOT NULL,
      example_type text NOT NULL
    );
    CREATE INDEX idx_example_vectors_agent ON example_vectors (agent_id, model);
  END IF;
  IF to_regclass('example_vectors') IS NOT NULL THEN
    CREATE TRIGGER example_vectors_copies BEFORE INSERT ON example_vectors FOR EACH ROW EXECUTE FUNCTION exemplar_vector_copies();
  END IF;
END $$;
