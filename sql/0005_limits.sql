-- 0005_limits.sql: what the limits of issue 8 keep.
--
-- notifications.kind: besides sign-ins, the account's owner is told when
-- wrong passwords locked the account (such a notification names no client
-- and no session).
ALTER TABLE notifications ADD COLUMN kind text NOT NULL DEFAULT 'sign_in'
    CHECK (kind IN ('sign_in', 'password_lockout'));
