-- Access tokens (JWTs) are kept under the SHA-256 of their signature,
-- base64url, no longer under the signature itself: with the claims beside
-- it, a copy of this table could rebuild every live token. Rows stored
-- before are rekeyed, so their tokens stay active.
UPDATE tokens
SET signature = translate(rtrim(encode(sha256(convert_to(signature, 'UTF8')), 'base64'), '='), '+/', '-_')
WHERE kind = 'access_token';

---- create above / drop below ----

-- The signatures are not kept: an older idvauth finds no record for these
-- tokens and answers them inactive (the safe direction) until they expire.
