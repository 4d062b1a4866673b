-- 0016_proximity.sql: the proximity signal (RFC 10027 §6.1.1; README
-- "Defences against QR relay"). Each client's policy: off, warn or
-- require; '' (clients registered before) is the default, warn. The audit
-- trail records the signal a decision was made under.
ALTER TABLE clients ADD COLUMN IF NOT EXISTS proximity_policy text NOT NULL DEFAULT ''
    CHECK (proximity_policy IN ('', 'off', 'warn', 'require'));
ALTER TABLE qr_audit_events ADD COLUMN IF NOT EXISTS detail text NOT NULL DEFAULT '';
