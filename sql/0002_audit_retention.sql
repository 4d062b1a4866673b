-- 0002_audit_retention.sql: the audit trail outlives the QR logins it
-- describes. Cleanup deletes an expired login after a minute, but its
-- events (and the "expired" event cleanup writes) are kept for the
-- retention period and removed by age.
ALTER TABLE qr_audit_events DROP CONSTRAINT qr_audit_events_qr_login_id_fkey;
CREATE INDEX qr_audit_events_at ON qr_audit_events (at);
