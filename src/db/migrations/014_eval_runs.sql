-- Evaluation runs (issue 15): a prompt version (or no system prompt) answers every item of an eval
-- set version through an LLM provider; each answer is scored by offline scorers and, unless turned
-- off, by an LLM judge. Runs are compared only on the same eval set version and scoring config.
CREATE TABLE eval_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  eval_set_id uuid NOT NULL REFERENCES eval_sets (id) ON DELETE CASCADE,
  eval_set_version integer NOT NULL,
  -- NULL: evaluated with no system prompt (the baseline of an agent without a production prompt).
  prompt_version integer,
  -- sha256 of the system prompt's text ('' hashed for none): what was really evaluated.
  prompt_content_hash text NOT NULL,
  provider text NOT NULL CHECK (provider IN ('anthropic', 'openai')),
  model text NOT NULL,
  judge_provider text CHECK (judge_provider IN ('anthropic', 'openai')),
  judge_model text,
  -- The scorers, checks, embedding model and answer length, and their sha256: runs compare only
  -- when they were scored the same way.
  scoring jsonb NOT NULL,
  scoring_hash text NOT NULL,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
  error text,
  items integer NOT NULL DEFAULT 0,
  scored integer NOT NULL DEFAULT 0,
  failed_items integer NOT NULL DEFAULT 0,
  cached_items integer NOT NULL DEFAULT 0,
  mean_score double precision,
  ci_confidence double precision,
  ci_lower double precision,
  ci_upper double precision,
  mean_similarity double precision,
  mean_judge double precision,
  input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  estimated_cost_usd double precision,
  cost_usd double precision,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CHECK ((judge_provider IS NULL) = (judge_model IS NULL))
);
CREATE INDEX idx_eval_runs_agent ON eval_runs (agent_id, created_at DESC);
CREATE INDEX idx_eval_runs_pairing ON eval_runs (agent_id, eval_set_version, scoring_hash, prompt_version, created_at DESC);

-- One row per eval item, written as soon as it is scored, so a run that fails halfway keeps what
-- it finished. No foreign key to training_examples: the result outlives an edited example.
CREATE TABLE eval_results (
  run_id uuid NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
  example_id uuid NOT NULL,
  answer text NOT NULL,
  -- Each scorer's 0..1 score (similarity, exact, contains, regex, json, judge); NULL when unscored.
  scores jsonb,
  primary_score double precision,
  verdict text CHECK (verdict IN ('answer', 'tie', 'reference')),
  rationale text,
  error text,
  input_tokens integer NOT NULL DEFAULT 0,
  output_tokens integer NOT NULL DEFAULT 0,
  latency_ms integer NOT NULL DEFAULT 0,
  cached boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, example_id)
);

-- Every model call of an evaluation (answers and judge verdicts): key = sha256 over the provider,
-- its endpoint, the model, the system prompt, the prompt, max tokens and temperature. A rerun with
-- the same inputs pays for nothing already here, so a failed run resumes without paying twice.
CREATE TABLE llm_call_cache (
  key text PRIMARY KEY,
  provider text NOT NULL,
  model text NOT NULL,
  -- What came back: the text, the model the API reported, and the tokens it was paid for.
  reply_text text NOT NULL,
  reply_model text NOT NULL,
  input_tokens integer NOT NULL DEFAULT 0,
  output_tokens integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE eval_runs IS 'Evaluation runs of a prompt version on an eval set version, with their means, interval, tokens and cost.';
COMMENT ON TABLE llm_call_cache IS 'Cached LLM replies of evaluation runs, by sha256 of the request: reruns do not pay twice.';
