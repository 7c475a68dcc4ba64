-- The Google login flow. Secrets handed to browsers (login states, flow cookies, CSRF tokens) are stored only as
-- SHA-256 hex digests. Times are Unix seconds (REAL, UTC). The tables as releases before schema components made
-- them.

CREATE TABLE login_states (
    state_hash      TEXT PRIMARY KEY,
    discord_user_id INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    consumed_at     REAL,
    discord_name    TEXT  -- shown on the confirmation page ("link Google account X to Discord user @name?")
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
