-- A client may be made to send a DPoP proof with every token request, so
-- that all its access tokens are bound to a key it holds (RFC 9449
-- section 5.2, dpop_bound_access_tokens), and may be put under a security
-- profile ("fapi2": the FAPI 2.0 Security Profile; '' for none).

ALTER TABLE clients
    ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false,
    ADD COLUMN profile text NOT NULL DEFAULT '';

---- create above / drop below ----

ALTER TABLE clients
    DROP COLUMN dpop_bound_access_tokens,
    DROP COLUMN profile;
