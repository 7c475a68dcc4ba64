-- One row per Discord user who made a choice: the reply visibility (`/privacy`) and the linked Google account.
-- Times are Unix seconds (UTC).
CREATE TABLE users (
    discord_user_id BIGINT PRIMARY KEY,
    google_sub      TEXT UNIQUE,
    google_email    TEXT,
    privacy_mode    TEXT CHECK (privacy_mode IN ('private', 'public')),  -- NULL: PRIVACY_DEFAULT
    linked_at       DOUBLE PRECISION,
    created_at      DOUBLE PRECISION NOT NULL,
    updated_at      DOUBLE PRECISION NOT NULL
);
