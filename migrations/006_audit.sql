-- The tamper-evident audit trail: a hash chain of entries, appended by
-- every replica through one function that serialises on a one-row head,
-- and changed by nothing but retention, which drops leading entries
-- behind a checkpoint entry.

-- body is the exact canonical form (storage.AuditEntry.Canonical) that
-- hash covers: hash = sha256(prev_hash || body). The other columns repeat
-- facts of the body for the filters of the admin API; readers decode the
-- body, so that what they see is what the chain vouches for.
CREATE TABLE audit_entries (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    type       text NOT NULL,
    actor      text NOT NULL,
    client_id  text NOT NULL,
    subject    text NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    body       bytea NOT NULL
);
CREATE INDEX audit_entries_at ON audit_entries (at);
CREATE INDEX audit_entries_type ON audit_entries (type, seq);
CREATE INDEX audit_entries_client_id ON audit_entries (client_id, seq);
CREATE INDEX audit_entries_subject ON audit_entries (subject, seq);

-- The chain's head: the last seq ever appended and its hash (the first
-- entry follows 32 zero bytes). Appending locks this row, which is what
-- lets several replicas append to one chain.
CREATE TABLE audit_head (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);
INSERT INTO audit_head (only_row, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));

-- Entries are never changed. Only retention deletes, and it says so with
-- SET LOCAL idvauth.audit_retention = 'on' in its transaction. This stops
-- mistakes, not the table's owner: the hash chain is what shows tampering.
CREATE FUNCTION audit_entries_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('idvauth.audit_retention', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only retention deletes audit entries';
END;
$$;
CREATE TRIGGER audit_entries_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_guard();

-- The head row is updated by audit_append only, and never removed.
CREATE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit head cannot be removed: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_head_keep
    BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard();

-- audit_append appends a batch, in array order, in one call: it locks the
-- head (concurrent appenders, from any replica, wait here), chains each
-- body onto the one before, inserts the rows and moves the head. It
-- returns the seq of the last entry appended.
CREATE FUNCTION audit_append(p_at timestamptz[], p_type text[], p_actor text[], p_client_id text[],
                             p_subject text[], p_body bytea[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n       integer := coalesce(array_length(p_body, 1), 0);
    v_first bigint;
    v_last  bigint;
    h       bytea;
    prevs   bytea[] := '{}';
    hashes  bytea[] := '{}';
BEGIN
    IF coalesce(array_length(p_at, 1), 0) <> n OR coalesce(array_length(p_type, 1), 0) <> n
       OR coalesce(array_length(p_actor, 1), 0) <> n OR coalesce(array_length(p_client_id, 1), 0) <> n
       OR coalesce(array_length(p_subject, 1), 0) <> n THEN
        RAISE EXCEPTION 'audit_append: arrays of different lengths' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT seq, hash INTO v_last, h FROM audit_head FOR UPDATE;
    IF n = 0 THEN
        RETURN v_last;
    END IF;
    v_first := v_last + 1;
    FOR i IN 1 .. n LOOP
        prevs := array_append(prevs, h);
        h := sha256(h || p_body[i]);
        hashes := array_append(hashes, h);
    END LOOP;
    INSERT INTO audit_entries (seq, at, type, actor, client_id, subject, prev_hash, hash, body)
        SELECT v_first + u.i - 1, u.at, u.type, u.actor, u.client_id, u.subject, u.prev, u.hash, u.body
        FROM unnest(p_at, p_type, p_actor, p_client_id, p_subject, prevs, hashes, p_body)
            WITH ORDINALITY AS u(at, type, actor, client_id, subject, prev, hash, body, i);
    v_last := v_first + n - 1;
    UPDATE audit_head SET seq = v_last, hash = h;
    RETURN v_last;
END;
$$;

---- create above / drop below ----

DROP FUNCTION audit_append(timestamptz[], text[], text[], text[], text[], bytea[]);
DROP TABLE audit_head;
DROP FUNCTION audit_head_guard();
DROP TABLE audit_entries;
DROP FUNCTION audit_entries_guard();
