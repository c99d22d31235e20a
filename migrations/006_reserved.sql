-- Reserved: 006 is the audit trail of another branch (issue 9). tern
-- needs migrations without gaps, so this placeholder does nothing; the
-- merge replaces it with that branch's 006 (keeping both would be a
-- "Duplicate migration 6" error at start-up, not a silent skip).

SELECT 1;

---- create above / drop below ----

SELECT 1;
