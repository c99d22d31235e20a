-- Placeholder for migration 021, assigned to another branch; replaced at
-- merge.
SELECT 1;

---- create above / drop below ----

SELECT 1;
