-- Client assertions (private_key_jwt) must name the issuer identifier as
-- aud (draft-ietf-oauth-rfc7523bis; the audience injection of
-- CVE-2025-27370). A client that still sends the token endpoint URL, as
-- RFC 7523 allowed, is let through only with this switch, off by default.

ALTER TABLE clients
    ADD COLUMN token_endpoint_audience_allowed boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE clients DROP COLUMN token_endpoint_audience_allowed;
