-- 0004_scan_session.sql: a ticket is bound to the session that scanned
-- (the phone app's token session, or the phone browser's session), not
-- only to the user: a ticket replayed from another session of the same
-- user must not decide the login.
ALTER TABLE qr_logins ADD COLUMN scan_session text NOT NULL DEFAULT '';
