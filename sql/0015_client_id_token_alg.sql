-- 0015_client_id_token_alg.sql: the JWS algorithm of a client's ID
-- tokens (OIDC Dynamic Client Registration §2,
-- id_token_signed_response_alg). '' is the server's default, RS256 unless
-- serve --signing-alg says otherwise.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS id_token_signed_response_alg text NOT NULL DEFAULT ''
    CHECK (id_token_signed_response_alg IN ('', 'RS256', 'ES256', 'EdDSA'));
