-- Nothing to do: on SQLite this step moved the upload state of releases before jobs into the `jobs` table;
-- PostgreSQL databases start with it there (0001).
SELECT 1;
