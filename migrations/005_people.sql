-- People who sign in: users, what they consented to, their browser
-- sessions; failed-attempt counters shared by every replica; and each
-- client's ID token algorithm.

ALTER TABLE clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT '';

-- The id is the opaque sub claim; everything else refers to people by it.
CREATE TABLE users (
    id             text PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    name           text NOT NULL,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- Deleting a user or a client deletes its consents in the same statement.
CREATE TABLE consents (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes      text[] NOT NULL,
    granted_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
-- For the cascade from clients: deleting a client finds its consents.
CREATE INDEX consents_client_id ON consents (client_id);

-- Keyed by the digest of the cookie value, never the value.
CREATE TABLE browser_sessions (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);
CREATE INDEX browser_sessions_user_id ON browser_sessions (user_id);

-- One fixed window of failed attempts per key (a digest chosen by the
-- caller), counted by a single upsert so that replicas count exactly.
CREATE TABLE failures (
    key           text PRIMARY KEY,
    count         integer NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL
);
CREATE INDEX failures_window_end ON failures (window_end);

-- Deleting a user deletes the tokens issued for them (subject = user id).
CREATE INDEX tokens_subject ON tokens (subject);

---- create above / drop below ----

DROP INDEX tokens_subject;
DROP TABLE failures;
DROP TABLE browser_sessions;
DROP TABLE consents;
DROP TABLE users;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
