-- Strong client authentication (RFC 7523 private_key_jwt, RFC 8705
-- mTLS): each client's keys and certificate subject, whether its tokens
-- are bound to its certificate, and the client assertions already used.

ALTER TABLE clients
    ADD COLUMN jwks text NOT NULL DEFAULT '',
    ADD COLUMN jwks_uri text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_auth_subject_dn text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_auth_san_dns text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_auth_san_uri text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_auth_san_ip text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_auth_san_email text NOT NULL DEFAULT '',
    ADD COLUMN tls_client_certificate_bound_access_tokens boolean NOT NULL DEFAULT false;

-- A used assertion (client_id, jti) is refused until the janitor deletes
-- it after it expired. The primary key makes exactly one of concurrent
-- uses win, on every replica.
CREATE TABLE used_assertions (
    client_id   text NOT NULL,
    jti         text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_assertions_expires_at ON used_assertions (expires_at);

---- create above / drop below ----

DROP TABLE used_assertions;
ALTER TABLE clients
    DROP COLUMN tls_client_certificate_bound_access_tokens,
    DROP COLUMN tls_client_auth_san_email,
    DROP COLUMN tls_client_auth_san_ip,
    DROP COLUMN tls_client_auth_san_uri,
    DROP COLUMN tls_client_auth_san_dns,
    DROP COLUMN tls_client_auth_subject_dn,
    DROP COLUMN jwks_uri,
    DROP COLUMN jwks;
