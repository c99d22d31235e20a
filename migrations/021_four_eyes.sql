-- Four-eyes approvals (issue 20): a sensitive admin call (erasing a
-- person, retiring a key with its tokens, granting owner or admin,
-- deleting a client) held until a second operator approves it.

-- body is the JSON of the call to run once approved: the calls held take
-- no secret. The decision is one conditional UPDATE (state = 'pending'
-- AND expires_at > now), so that of two concurrent approvals one wins
-- and the action runs once. requested_by and decided_by are audit actors
-- ("operator:op_..."), not foreign keys: a request outlives nothing it
-- names, and the audit trail keeps the same names.
CREATE TABLE approvals (
    id            text PRIMARY KEY,
    action        text NOT NULL,
    target        text NOT NULL,
    method        text NOT NULL,
    path          text NOT NULL,
    body          bytea,
    requested_by  text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    state         text NOT NULL,
    decided_by    text NOT NULL DEFAULT '',
    decided_at    timestamptz,
    result        text NOT NULL DEFAULT ''
);

CREATE INDEX approvals_state_created ON approvals (state, created_at DESC);

---- create above / drop below ----

DROP TABLE approvals;
