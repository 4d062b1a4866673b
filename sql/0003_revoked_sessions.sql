-- 0003_revoked_sessions.sql: a revoked session stays revoked. "This wasn't
-- me" (and refresh token reuse) may come before the tokens of a session
-- exist — a QR login confirmed but not yet redeemed, a code not yet
-- exchanged —, so the revocation is remembered until nothing of the
-- session could still be minted, and token inserts check it.
CREATE TABLE revoked_sessions (
    session_id text        PRIMARY KEY,
    until      timestamptz NOT NULL
);
CREATE INDEX revoked_sessions_until ON revoked_sessions (until);
