-- Logout (OpenID Connect RP-Initiated Logout 1.0 and Back-Channel Logout
-- 1.0): where a client may send a person after logout, where its logout
-- tokens go; which grants each browser session made (so that logging it
-- out revokes their tokens and tells their clients); and the outbox of
-- back-channel deliveries, which survives a restart.

ALTER TABLE clients
    ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
    ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '',
    ADD COLUMN backchannel_logout_session_required boolean NOT NULL DEFAULT false;

CREATE TABLE session_grants (
    session_id  text NOT NULL REFERENCES browser_sessions (id) ON DELETE CASCADE,
    request_id  text NOT NULL,
    client_id   text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    sid         text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (session_id, request_id)
);
CREATE INDEX session_grants_client_id ON session_grants (client_id);

CREATE TABLE logout_deliveries (
    id               text PRIMARY KEY,
    client_id        text NOT NULL,
    subject          text NOT NULL,
    sid              text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX logout_deliveries_next_attempt_at ON logout_deliveries (next_attempt_at);

---- create above / drop below ----

DROP TABLE logout_deliveries;
DROP TABLE session_grants;
ALTER TABLE clients
    DROP COLUMN post_logout_redirect_uris,
    DROP COLUMN backchannel_logout_uri,
    DROP COLUMN backchannel_logout_session_required;
