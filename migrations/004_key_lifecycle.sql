-- Key rotation: at most one next and one active key per algorithm, so
-- that of several replicas trying the same rotation step exactly one
-- succeeds; and every change of a key reaches every replica at once.

-- Before this, replicas starting together on an empty database could each
-- create an active key. Keep the one every replica signed with (earliest
-- activated, then smallest id) and retire the others.
UPDATE signing_keys k SET state = 'retired', retired_at = now()
WHERE state IN ('next', 'active') AND EXISTS (
    SELECT 1 FROM signing_keys o
    WHERE o.alg = k.alg AND o.state = k.state AND o.id <> k.id
      AND (coalesce(o.activated_at, o.created_at), o.id) < (coalesce(k.activated_at, k.created_at), k.id));

CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';

CREATE FUNCTION idvauth_keys_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('idvauth_keys_changed', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER signing_keys_notify AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION idvauth_keys_changed();

---- create above / drop below ----

DROP TRIGGER signing_keys_notify ON signing_keys;
DROP FUNCTION idvauth_keys_changed();
DROP INDEX signing_keys_one_active;
DROP INDEX signing_keys_one_next;
