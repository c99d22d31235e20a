-- Passkeys (WebAuthn credentials) of people (issue 19). A row names its
-- person by id only: no name, email or username. user_handle is the
-- WebAuthn user.id, a random value the server chose per person, never
-- the username. credential is the WebAuthn library's record (public key,
-- flags, transports) as JSON; sign_count only goes forward, by a
-- conditional UPDATE, so that a cloned authenticator is refused on every
-- replica.
CREATE TABLE passkeys (
    id             text PRIMARY KEY,
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id  bytea NOT NULL UNIQUE,
    user_handle    bytea NOT NULL,
    name           text NOT NULL,
    credential     bytea NOT NULL,
    sign_count     bigint NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);

---- create above / drop below ----

DROP TABLE passkeys;
