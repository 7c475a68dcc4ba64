-- Initial schema. Times are Unix seconds (REAL, UTC). Secrets handed to browsers (login states, flow
-- cookies, CSRF tokens, link codes) are stored only as SHA-256 hex digests.

CREATE TABLE users (
    discord_user_id INTEGER PRIMARY KEY,
    google_sub      TEXT UNIQUE,
    google_email    TEXT,
    privacy_mode    TEXT CHECK (privacy_mode IN ('private', 'public')),  -- NULL: PRIVACY_DEFAULT
    linked_at       REAL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);

CREATE TABLE login_states (
    state_hash      TEXT PRIMARY KEY,
    discord_user_id INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    consumed_at     REAL
);
CREATE INDEX login_states_by_expiry ON login_states (expires_at);

-- One browser's trip through the OpenID provider, started by GET /auth/discord.
CREATE TABLE oauth_flows (
    flow_hash       TEXT PRIMARY KEY,          -- hash of the HttpOnly cookie binding the browser
    state_hash      TEXT NOT NULL REFERENCES login_states (state_hash) ON DELETE CASCADE,
    oauth_state     TEXT NOT NULL UNIQUE,
    code_verifier   TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL
);

-- A verified Google identity waiting for the user's confirmation (POST with the CSRF token).
CREATE TABLE pending_links (
    csrf_hash       TEXT PRIMARY KEY,
    flow_hash       TEXT NOT NULL,
    discord_user_id INTEGER NOT NULL,
    google_sub      TEXT NOT NULL,
    google_email    TEXT,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL
);

-- /link without ORA_API_BASE_URL: locally generated one-time codes.
CREATE TABLE link_codes (
    code_hash       TEXT PRIMARY KEY,
    discord_user_id INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    consumed_at     REAL
);

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
    remote_status     TEXT NOT NULL DEFAULT 'local only',
    remote_id         TEXT,
    created_at        REAL NOT NULL,
    UNIQUE (owner_id, sha256)
);
CREATE INDEX datasets_by_owner ON datasets (owner_id, guild_id, created_at DESC);

-- /chat memory: completed exchanges only.
CREATE TABLE chat_turns (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    prompt      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    model       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX chat_turns_by_conversation ON chat_turns (user_id, channel_id, id DESC);
