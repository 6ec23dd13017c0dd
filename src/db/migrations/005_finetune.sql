-- Fine-tuning runs: what a backend needs to find its job again (never a secret), and when the run ended.
ALTER TABLE fine_tuning_runs ADD COLUMN backend_state jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(backend_state) = 'object');
ALTER TABLE fine_tuning_runs ADD COLUMN finished_at timestamptz;
-- The poller looks for runs that are not finished yet.
CREATE INDEX idx_fine_tuning_runs_active ON fine_tuning_runs (created_at)
  WHERE status IN ('pending', 'validating', 'queued', 'running');

COMMENT ON COLUMN fine_tuning_runs.backend IS 'openai, local or external: who trains the model.';
COMMENT ON COLUMN fine_tuning_runs.status_history IS 'Every status the run went through: [{status, at}], oldest first.';
COMMENT ON COLUMN fine_tuning_runs.logs IS 'The run''s log, append-only: backend events, the training command''s output, lines sent by an external system.';
COMMENT ON COLUMN fine_tuning_runs.external_id IS 'The backend''s id for the job (an OpenAI fine-tuning job id, or the external system''s id).';
COMMENT ON COLUMN fine_tuning_runs.result_model IS 'The model the run produced (e.g. an OpenAI fine_tuned_model id or an adapter path).';
COMMENT ON COLUMN fine_tuning_runs.backend_state IS 'What the backend needs to follow the run (uploaded file ids, process id, log offset).';

SELECT exemplar_create_scoped_views();
