-- Placeholder: replaced by the console's migration at merge.
SELECT 1;

---- create above / drop below ----
