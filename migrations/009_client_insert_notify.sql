-- Replicas also cache that a client ID does not exist (so that an unknown
-- client costs no more than a known one and client IDs cannot be told
-- apart by timing): creating a client must tell them at once, as changing
-- or deleting one does (002).

CREATE OR REPLACE FUNCTION idvauth_client_changed() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('idvauth_client_changed', NEW.id);
    ELSE
        PERFORM pg_notify('idvauth_client_changed', OLD.id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER clients_notify ON clients;
CREATE TRIGGER clients_notify AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION idvauth_client_changed();

---- create above / drop below ----

DROP TRIGGER clients_notify ON clients;
CREATE TRIGGER clients_notify AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION idvauth_client_changed();

CREATE OR REPLACE FUNCTION idvauth_client_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('idvauth_client_changed', OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
