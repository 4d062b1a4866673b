-- 0008_user_lifecycle.sql: a user can be disabled (PATCH /admin/v1/users,
-- qrlogin users update --disable): a disabled user cannot sign in, use a
-- token or refresh one.
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- SignOut finds a user's completed authorization requests by subject.
CREATE INDEX auth_requests_subject ON auth_requests (subject) WHERE subject <> '';
-- … and the QR logins the user scanned.
CREATE INDEX qr_logins_subject ON qr_logins (subject) WHERE subject <> '';
