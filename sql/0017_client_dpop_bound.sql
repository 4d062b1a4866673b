-- 0017_client_dpop_bound.sql: a client's dpop_bound_access_tokens (RFC
-- 9449 §5.2): its token requests need a DPoP proof and its QR logins a
-- key (README "Defences against QR relay", DPoP). Default: not required.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;
