-- /link without ORA_API_BASE_URL: locally generated one-time codes, stored as SHA-256 hex digests, redeemable
-- once through POST /link/redeem. Times are Unix seconds (REAL, UTC).
CREATE TABLE link_codes (
    code_hash       TEXT PRIMARY KEY,
    discord_user_id INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    consumed_at     REAL
);
