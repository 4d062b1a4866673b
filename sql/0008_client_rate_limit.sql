-- 0008_client_rate_limit.sql: a confidential client's quota at
-- /qr/authorize, in requests per second; 0 is the server's default
-- (--client-rate-limit). Public clients are limited per address instead.
ALTER TABLE clients ADD COLUMN rate_limit double precision NOT NULL DEFAULT 0
    CHECK (rate_limit >= 0 AND rate_limit <= 1000000);
