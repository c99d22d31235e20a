-- Authorization codes, refresh tokens and the requests behind them keep
-- what the server needs to resume the grant, and are used up once:
-- consumed_at is set by a conditional update, so of two concurrent
-- redemptions exactly one wins.

ALTER TABLE tokens
    ADD COLUMN session bytea NOT NULL DEFAULT '\x',
    ADD COLUMN consumed_at timestamptz;

---- create above / drop below ----

ALTER TABLE tokens
    DROP COLUMN consumed_at,
    DROP COLUMN session;
