-- idvauth schema, version 1: clients, token records, signing keys.

CREATE TABLE clients (
    id                          text PRIMARY KEY,
    name                        text NOT NULL,
    secret_hash                 bytea NOT NULL,
    grant_types                 text[] NOT NULL,
    response_types              text[] NOT NULL,
    redirect_uris               text[] NOT NULL,
    scopes                      text[] NOT NULL,
    audience                    text[] NOT NULL,
    token_endpoint_auth_method  text NOT NULL,
    access_token_ttl_seconds    bigint NOT NULL DEFAULT 0,
    introspection_allowed       boolean NOT NULL DEFAULT false,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL
);

-- One row per issued token, keyed by its signature (never the token).
-- Deleting a client deletes its tokens in the same statement, and a token
-- cannot be stored for a client that no longer exists.
CREATE TABLE tokens (
    kind        text NOT NULL,
    signature   text NOT NULL,
    request_id  text NOT NULL,
    client_id   text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    subject     text NOT NULL,
    scopes      text[] NOT NULL,
    audience    text[] NOT NULL,
    key_id      text NOT NULL DEFAULT '',
    jti         text NOT NULL DEFAULT '',
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (signature, kind)
);
CREATE INDEX tokens_request_id ON tokens (request_id);
CREATE INDEX tokens_client_id ON tokens (client_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- Signing keys; the private part is sealed (AES-256-GCM) by the keys package.
CREATE TABLE signing_keys (
    id            text PRIMARY KEY,
    alg           text NOT NULL,
    state         text NOT NULL,
    sealed        bytea NOT NULL,
    public_jwk    bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    activated_at  timestamptz,
    retired_at    timestamptz
);

---- create above / drop below ----

DROP TABLE signing_keys;
DROP TABLE tokens;
DROP TABLE clients;
