-- Datasets: metadata of the files stored under DATASET_DIR and the state of their upload to ORA. Times are Unix
-- seconds (REAL, UTC). The table as releases before schema components made it (0002 moves the upload to a job).
CREATE TABLE datasets (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id          INTEGER NOT NULL,
    guild_id          INTEGER,
    name              TEXT NOT NULL,
    original_filename TEXT NOT NULL,
    size_bytes        INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256            TEXT NOT NULL,
    content_type      TEXT,
    stored_path       TEXT NOT NULL,
    remote_id         TEXT,
    created_at        REAL NOT NULL,
    upload_state      TEXT NOT NULL DEFAULT 'pending'
        CHECK (upload_state IN ('pending', 'uploading', 'uploaded', 'failed')),
    upload_attempts   INTEGER NOT NULL DEFAULT 0 CHECK (upload_attempts >= 0),
    upload_error      TEXT,
    upload_next_at    REAL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX datasets_by_owner ON datasets (owner_id, guild_id, created_at DESC);
CREATE INDEX datasets_unfinished_uploads ON datasets (id) WHERE upload_state IN ('pending', 'uploading');
