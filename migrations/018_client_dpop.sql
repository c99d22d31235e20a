-- A client may be made to send a DPoP proof with every token request, so
-- that all its access tokens are bound to a key it holds (RFC 9449
-- section 5.2, dpop_bound_access_tokens).

ALTER TABLE clients
    ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;

---- create above / drop below ----

ALTER TABLE clients
    DROP COLUMN dpop_bound_access_tokens;
