-- People's data keys in a person-key store of their own (issue 21): a
-- sealed user whose key_ref is set keeps no wrapped data key in this
-- database (no person_keys row); the key is in the person-key store
-- (IDVAUTH_PERSON_KEYS_DATABASE_URL) under the person's ID, so that a
-- copy of this database holds ciphertexts and blind indexes only, and
-- deleting the key there shreds every such copy at once.
--
-- A nullable column without a default changes the catalogue only. Rows
-- move one at a time (`idvauth migrate seal`); servers read both
-- forms meanwhile.

ALTER TABLE users ADD COLUMN key_ref text;

---- create above / drop below ----

-- Rows whose key has moved cannot be read without the person-key store:
-- run this only where `idvauth migrate seal` has not moved any key.
ALTER TABLE users DROP COLUMN key_ref;
