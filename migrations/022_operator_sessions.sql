-- Operators' browser sessions in the web console (issue 20): kept on the
-- server so that signing out, or disabling the operator, ends them at
-- once. digest is the SHA-256 of the session ID the browser holds, never
-- the ID.
CREATE TABLE operator_sessions (
    digest        bytea PRIMARY KEY,
    operator_id   text NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at);

---- create above / drop below ----

DROP TABLE operator_sessions;
