-- Personal data sealed at rest (issue 21): each person's username, name
-- and e-mail encrypted under a data key of their own, the data key wrapped
-- under IDVAUTH_SECRETS (or a KMS) in person_keys, and keyed blind indexes
-- for the lookups. Rows written before stay plain until `idvauth people
-- seal` seals them in small batches; the server reads both forms meanwhile.
--
-- Every step here is quick on a large table: new nullable columns without
-- a default and DROP NOT NULL change the catalogue only; the unique index
-- is built over columns that are all NULL.

ALTER TABLE users
    ALTER COLUMN username DROP NOT NULL,
    ALTER COLUMN name DROP NOT NULL,
    ALTER COLUMN email DROP NOT NULL,
    ADD COLUMN username_index bytea,
    ADD COLUMN email_index bytea,
    ADD COLUMN username_sealed bytea,
    ADD COLUMN name_sealed bytea,
    ADD COLUMN email_sealed bytea;

-- Usernames are unique in either form (the plain UNIQUE stays for the
-- rows not sealed yet).
CREATE UNIQUE INDEX users_username_index ON users (username_index);
CREATE INDEX users_email_index ON users (email_index);

-- One data key per person, wrapped; kek names the key-encryption key.
-- Deleting the person deletes the key in the same statement: what any
-- copy of the users rows holds can no longer be opened.
CREATE TABLE person_keys (
    user_id     text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    wrapped     bytea NOT NULL,
    kek         text NOT NULL
);

---- create above / drop below ----

-- Sealed rows cannot go back to plain text here: run this only on a
-- database where `idvauth people seal` has not run (or restore a backup).
DROP TABLE person_keys;
DROP INDEX users_email_index;
DROP INDEX users_username_index;
ALTER TABLE users
    DROP COLUMN email_sealed,
    DROP COLUMN name_sealed,
    DROP COLUMN username_sealed,
    DROP COLUMN email_index,
    DROP COLUMN username_index,
    ALTER COLUMN email SET NOT NULL,
    ALTER COLUMN name SET NOT NULL,
    ALTER COLUMN username SET NOT NULL;
