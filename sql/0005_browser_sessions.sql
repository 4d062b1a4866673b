-- 0005_browser_sessions.sql: browsers signed in at the provider (single
-- sign-on, OIDC Core §3.1.2.1; RP-Initiated Logout 1.0). The browser holds
-- a random token in a cookie; only its SHA-256 is kept here. Every instance
-- reads the same rows, so a session made on one is honoured by all, and
-- survives restarts. A user keeps a bounded number of sessions: a sign-in
-- beyond the cap deletes the user's oldest (see CreateBrowserSession).
CREATE TABLE browser_sessions (
    id           text        PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE,
    subject      text        NOT NULL,
    amr          text[]      NOT NULL DEFAULT '{}',
    auth_time    timestamptz NOT NULL,
    approver     boolean     NOT NULL DEFAULT false,
    ip           text        NOT NULL DEFAULT '',
    user_agent   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX browser_sessions_subject ON browser_sessions (subject, created_at DESC, id DESC);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);
