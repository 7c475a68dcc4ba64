-- One row per Discord user who made a choice: the reply visibility (`/privacy`) and the linked Google account.
-- Times are Unix seconds (REAL, UTC). This is the table as releases before schema components made it.
CREATE TABLE users (
    discord_user_id INTEGER PRIMARY KEY,
    google_sub      TEXT UNIQUE,
    google_email    TEXT,
    privacy_mode    TEXT CHECK (privacy_mode IN ('private', 'public')),  -- NULL: PRIVACY_DEFAULT
    linked_at       REAL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
