-- Placeholder so that 020 loads on the operators branch (tern needs no
-- gaps); the numbers before 020 belong to other branches: drop at merge.
SELECT 1;

---- create above / drop below ----

SELECT 1;
