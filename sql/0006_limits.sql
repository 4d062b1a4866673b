-- 0006_limits.sql: what the limits of issue 8 keep. (Landed for a few
-- minutes as 0005_limits.sql, next to 0005_browser_sessions.sql: IF NOT
-- EXISTS lets a database that applied it under that name pass.)
--
-- notifications.kind: besides sign-ins, the account's owner is told when
-- wrong passwords locked the account (such a notification names no client
-- and no session).
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'sign_in'
    CHECK (kind IN ('sign_in', 'password_lockout'));
