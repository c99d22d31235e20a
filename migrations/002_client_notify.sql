-- Replicas cache clients; every change or deletion of a client tells them
-- at once, whoever makes it (idvauth or a person with psql).

CREATE FUNCTION idvauth_client_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('idvauth_client_changed', OLD.id);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_notify AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION idvauth_client_changed();

---- create above / drop below ----

DROP TRIGGER clients_notify ON clients;
DROP FUNCTION idvauth_client_changed();
