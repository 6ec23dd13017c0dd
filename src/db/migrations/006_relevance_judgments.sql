-- People's judgments of search results: is this example relevant to this query? They form an
-- agent's labelled set for `search eval` and `search tune`. One judgment per (query, example): a
-- new one replaces the old, and the audit log keeps the history.
CREATE TABLE relevance_judgments (
  agent_id uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  -- Trimmed, with runs of whitespace collapsed, so the same question typed twice is one question.
  query text NOT NULL CHECK (query <> '' AND length(query) <= 2000),
  example_id uuid NOT NULL REFERENCES training_examples (id) ON DELETE CASCADE,
  -- 0 not relevant, 1 relevant, 2 and 3 more so.
  grade smallint NOT NULL CHECK (grade BETWEEN 0 AND 3),
  judged_by text NOT NULL,
  judged_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_id, query, example_id)
);
CREATE INDEX idx_relevance_judgments_example ON relevance_judgments (example_id);

COMMENT ON TABLE relevance_judgments IS 'Whether a search result answers a query, as judged by a person or program; the labelled set for search eval and tune.';
