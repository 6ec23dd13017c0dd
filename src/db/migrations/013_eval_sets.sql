-- Evaluation sets (issue 15): a pinned, hashed selection of an agent's examples that candidate
-- prompts are scored on, and that must never ground an optimization, appear as a few-shot example
-- or go into a fine-tuning dataset. Versioned: a different selection is a new version, and results
-- name the version they used.
CREATE TABLE eval_sets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  -- How it was chosen, so the same call makes the same set.
  seed integer NOT NULL,
  requested_size integer NOT NULL CHECK (requested_size > 0),
  -- sha256 over the members' ids and content hashes, in id order: what was pinned.
  content_hash text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agent_id, version)
);

-- No foreign key to training_examples: a member edited or deleted after pinning stays recorded
-- (with the content it had), so the set can say it changed instead of silently shrinking.
CREATE TABLE eval_set_examples (
  eval_set_id uuid NOT NULL REFERENCES eval_sets (id) ON DELETE CASCADE,
  example_id uuid NOT NULL,
  -- item: a positive example whose prompt is asked and whose completion is the reference;
  -- contrast: a negative example of the same prompt, the answer not to give.
  role text NOT NULL CHECK (role IN ('item', 'contrast')),
  content_hash text NOT NULL,
  PRIMARY KEY (eval_set_id, example_id)
);
CREATE INDEX idx_eval_set_examples_example ON eval_set_examples (example_id);

COMMENT ON TABLE eval_sets IS 'Pinned, versioned selections of an agent''s examples for evaluating prompt versions; never used for grounding, few-shot or datasets.';
