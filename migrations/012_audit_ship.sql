-- Audit shipping (issue 23): how far each sink has received the chain,
-- and which replica ships to it now (a lease, so that one ships at a time
-- and another takes over when it stops).

CREATE TABLE audit_ship (
    sink         text PRIMARY KEY,
    shipped_seq  bigint NOT NULL DEFAULT 0,
    holder       text NOT NULL DEFAULT '',
    lease_until  timestamptz NOT NULL DEFAULT '-infinity'
);

---- create above / drop below ----

DROP TABLE audit_ship;
