-- PKCE is required of every client of the authorization-code grant (RFC
-- 9700 section 2.1.1); a confidential client may be let off with
-- require_pkce false (pkce_optional). A client may be made to push every
-- authorization request first (RFC 9126 section 6). Pushed requests
-- themselves are token records of kind pushed_request: no table.

ALTER TABLE clients
    ADD COLUMN pkce_optional boolean NOT NULL DEFAULT false,
    ADD COLUMN require_pushed_authorization_requests boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE clients
    DROP COLUMN pkce_optional,
    DROP COLUMN require_pushed_authorization_requests;
