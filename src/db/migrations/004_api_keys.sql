-- Bearer API keys for the HTTP doors. Only a hash of each key is stored; the key is shown once.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL DEFAULT '',
  -- The key's first characters, so people can tell keys apart in lists.
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  -- ["admin"], or grants such as [{"access": "read", "agentId": "..."}, {"access": "write", "agentId": "..."}]
  scopes jsonb NOT NULL,
  created_by text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
