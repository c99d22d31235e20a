-- Multi-factor sign-in (issue 19): people's second factors and recovery
-- codes, what a browser session was authenticated with, and the clients'
-- step-up settings.

-- One row per factor. secret is sealed by the server (AES-256-GCM under
-- IDVAUTH_SECRETS), never the clear secret; counter only goes up (a TOTP
-- factor's last accepted time step), by a conditional UPDATE, so that a
-- code is accepted once on every replica.
CREATE TABLE factors (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    name          text NOT NULL,
    secret        bytea NOT NULL,
    counter       bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX factors_user_id ON factors (user_id);
-- At most one authenticator app per person.
CREATE UNIQUE INDEX factors_one_totp ON factors (user_id) WHERE kind = 'totp';

-- Recovery codes by the SHA-256 of the code (100 random bits), never the
-- code; used_at is set once, by a conditional UPDATE.
CREATE TABLE recovery_codes (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest      bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (user_id, digest)
);

-- RFC 8176 methods the session was authenticated with; empty: "pwd".
ALTER TABLE browser_sessions ADD COLUMN amr text[] NOT NULL DEFAULT '{}';

ALTER TABLE clients
    ADD COLUMN default_acr_values text[] NOT NULL DEFAULT '{}',
    ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE clients DROP COLUMN require_mfa, DROP COLUMN default_acr_values;
ALTER TABLE browser_sessions DROP COLUMN amr;
DROP TABLE recovery_codes;
DROP TABLE factors;
