-- 0013_dpop_bindings.sql: what a DPoP key binds (RFC 9449). An
-- authorization request's dpop_jkt (§10) binds its code, and a QR login's
-- its device code; an access token's jkt (§6) is the key it must be
-- presented with; a refresh token's jkt is the key of the request that
-- made it (§5). '' means not bound.
ALTER TABLE auth_requests ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE qr_logins ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN jkt text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN jkt text NOT NULL DEFAULT '';
