-- 0011_client_allowed_origins.sql: the web origins whose scripts may call
-- the provider's browser endpoints (token, userinfo, keys, discovery,
-- revocation) with CORS. Empty: none.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS allowed_origins text[] NOT NULL DEFAULT '{}';
