-- API keys of clients (issue 21): a digest of the secret only, never the
-- secret. A key is gone with its client.

CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    client_id     text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name          text NOT NULL,
    digest        bytea NOT NULL,
    scopes        text[] NOT NULL,
    audience      text[] NOT NULL,
    networks      text[] NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    replaced_by   text NOT NULL DEFAULT ''
);
CREATE INDEX api_keys_client_id ON api_keys (client_id, created_at);
CREATE INDEX api_keys_expires_at ON api_keys (expires_at);

---- create above / drop below ----

DROP TABLE api_keys;
