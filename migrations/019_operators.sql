-- Operators (issue 20): the accounts of the people who run idvauth, apart
-- from the people who sign in to client applications (users), so that no
-- public endpoint that makes or changes a user can make an operator.

-- password_hash is argon2id (PHC), empty until enrolled; totp_secret is
-- sealed by the server (AES-256-GCM under IDVAUTH_SECRETS), never the
-- clear secret; enrollment_digest is the SHA-256 of the single-use
-- enrollment token, never the token, and is cleared by the conditional
-- UPDATE that uses it.
CREATE TABLE operators (
    id                     text PRIMARY KEY,
    username               text NOT NULL UNIQUE,
    role                   text NOT NULL,
    password_hash          text NOT NULL,
    disabled               boolean NOT NULL DEFAULT false,
    totp_secret            bytea,
    totp_counter           bigint NOT NULL DEFAULT 0,
    enrollment_digest      bytea UNIQUE,
    enrollment_expires_at  timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);

---- create above / drop below ----

DROP TABLE operators;
