-- A resource server may introspect only tokens issued for its own
-- audiences (issue 17): the audiences it answers for, empty meaning its
-- registered audience (or, without one, the server's default audience).

ALTER TABLE clients
    ADD COLUMN introspection_audiences text[] NOT NULL DEFAULT '{}';

---- create above / drop below ----

ALTER TABLE clients DROP COLUMN introspection_audiences;
