-- A coarse summary of the browser of each session ("Chrome on Linux"),
-- which the account page lists so that a person can tell their sessions
-- apart. Never the raw User-Agent header.
ALTER TABLE browser_sessions ADD COLUMN device text NOT NULL DEFAULT '';

---- create above / drop below ----

ALTER TABLE browser_sessions DROP COLUMN device;
