-- The upload of each dataset to ORA as columns instead of one `remote_status` string ('uploaded', 'local only'
-- or 'failed: <reason>'), so that unfinished uploads can be found and resumed after a restart.
ALTER TABLE datasets ADD COLUMN upload_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (upload_state IN ('pending', 'uploading', 'uploaded', 'failed'));
ALTER TABLE datasets ADD COLUMN upload_attempts INTEGER NOT NULL DEFAULT 0 CHECK (upload_attempts >= 0);
ALTER TABLE datasets ADD COLUMN upload_error TEXT;
ALTER TABLE datasets ADD COLUMN upload_next_at REAL;

-- 'local only' meant "not at ORA": no ORA was configured, or the bot died mid-upload. Both are 'pending': they
-- are sent whenever ORA is configured. An upload a shutdown interrupted is resumed too; other failures stay.
UPDATE datasets SET
    upload_state = CASE
        WHEN remote_status = 'uploaded' THEN 'uploaded'
        WHEN remote_status LIKE 'failed: interrupted%' THEN 'pending'
        WHEN remote_status LIKE 'failed: %' THEN 'failed'
        ELSE 'pending'
    END,
    upload_error = CASE WHEN remote_status LIKE 'failed: %' THEN substr(remote_status, 9) END;

ALTER TABLE datasets DROP COLUMN remote_status;

CREATE INDEX datasets_unfinished_uploads ON datasets (id) WHERE upload_state IN ('pending', 'uploading');
