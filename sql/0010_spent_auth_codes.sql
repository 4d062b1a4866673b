-- 0010_spent_auth_codes.sql: authorization codes already redeemed. A code
-- is usable once; a second redemption must also revoke the tokens the
-- first one obtained (RFC 6749 §4.1.2). zitadel deletes the authorization
-- request once its tokens exist, so the link from a code to those tokens
-- (the request's session_id, which every token of it carries) is kept
-- here, by the code's hash, until the code would have expired.
CREATE TABLE spent_auth_codes (
    code_hash  bytea       PRIMARY KEY,
    session_id text        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX spent_auth_codes_expires_at ON spent_auth_codes (expires_at);
