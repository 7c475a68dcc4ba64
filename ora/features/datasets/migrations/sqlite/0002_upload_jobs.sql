-- The upload to ORA becomes a durable job in the core's `jobs` table (kind 'datasets.upload', subject the
-- dataset id): claimed by one process at a time, so two processes never send the same file, and resumed after a
-- crash. Each dataset's upload state moves there; the dataset keeps the id ORA gave it. An upload a crash cut off
-- ('uploading') becomes a running job of a process that no longer runs: the next worker takes it over, and the
-- attempt it used counts.
INSERT INTO jobs (kind, subject, user_id, payload, state, attempts, next_at, last_error, lease_owner, created_at,
                  updated_at)
SELECT 'datasets.upload', CAST(id AS TEXT), owner_id, '{}',
       CASE upload_state
           WHEN 'uploaded' THEN 'done'
           WHEN 'failed' THEN 'failed'
           WHEN 'uploading' THEN 'running'
           ELSE 'pending'
       END,
       upload_attempts, COALESCE(upload_next_at, created_at), upload_error,
       CASE WHEN upload_state = 'uploading' THEN 'a release before jobs' END,
       created_at, created_at
FROM datasets;

DROP INDEX datasets_unfinished_uploads;
ALTER TABLE datasets DROP COLUMN upload_next_at;
ALTER TABLE datasets DROP COLUMN upload_error;
ALTER TABLE datasets DROP COLUMN upload_attempts;
ALTER TABLE datasets DROP COLUMN upload_state;
