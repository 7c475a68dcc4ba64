-- /link without ORA_API_BASE_URL: locally generated one-time codes, stored as SHA-256 hex digests, redeemable
-- once through POST /link/redeem. Times are Unix seconds (UTC).
CREATE TABLE link_codes (
    code_hash       TEXT PRIMARY KEY,
    discord_user_id BIGINT NOT NULL,
    created_at      DOUBLE PRECISION NOT NULL,
    expires_at      DOUBLE PRECISION NOT NULL,
    consumed_at     DOUBLE PRECISION
);
