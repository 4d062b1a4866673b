-- 0001_init.sql: the whole qrlogin schema.
--
-- Conventions:
--   * secrets (client secrets, qr_id, device_code, ticket, authorization
--     codes, refresh and admin tokens) are stored only as their SHA-256
--     (bytea) and found through a unique index on the hash;
--   * every time is timestamptz; an unset time is NULL;
--   * lists are text[] and never NULL;
--   * there are no foreign keys between clients, users and the rows that
--     name them: deleting a client or user must not block on, or silently
--     cascade into, the token tables, and every lookup re-checks the client
--     and user anyway. Foreign keys exist only where a row has no meaning
--     without its parent (audit events and user-code reservations of a QR
--     login).

CREATE TABLE clients (
    id                        text        PRIMARY KEY,
    name                      text        NOT NULL,
    secret_hash               bytea,
    type                      text        NOT NULL CHECK (type IN ('confidential', 'public')),
    first_party               boolean     NOT NULL DEFAULT false,
    redirect_uris             text[]      NOT NULL DEFAULT '{}',
    post_logout_redirect_uris text[]      NOT NULL DEFAULT '{}',
    grant_types               text[]      NOT NULL DEFAULT '{}',
    logo_uri                  text        NOT NULL DEFAULT '',
    client_uri                text        NOT NULL DEFAULT '',
    access_token_type         text        NOT NULL DEFAULT '',
    created_at                timestamptz NOT NULL
);
CREATE INDEX clients_created_at ON clients (created_at, id);

CREATE TABLE users (
    id             text        PRIMARY KEY,
    username       text        NOT NULL UNIQUE,
    password_hash  text        NOT NULL DEFAULT '',
    name           text        NOT NULL DEFAULT '',
    email          text        NOT NULL DEFAULT '',
    email_verified boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL
);
CREATE INDEX users_created_at ON users (created_at, id);

-- One row per QR login, one status column (SPEC §2). Every transition is a
-- single conditional UPDATE on this row.
CREATE TABLE qr_logins (
    id                   text        PRIMARY KEY,
    qr_id_hash           bytea       NOT NULL UNIQUE,
    -- NULL for logins made for an authorization request (SPEC §2.5).
    device_code_hash     bytea       UNIQUE,
    user_code            text        NOT NULL,
    client_id            text        NOT NULL,
    scopes               text[]      NOT NULL DEFAULT '{}',
    nonce                text        NOT NULL DEFAULT '',
    auth_request_id      text        NOT NULL DEFAULT '',
    requester_ip         text        NOT NULL DEFAULT '',
    requester_user_agent text        NOT NULL DEFAULT '',
    requester_reported   boolean     NOT NULL DEFAULT false,
    status               text        NOT NULL CHECK (status IN
                             ('pending', 'scanned', 'confirmed', 'redeemed', 'denied', 'expired')),
    subject              text        NOT NULL DEFAULT '',
    -- The ticket hash stays after the decision (status guards reuse), so a
    -- second confirm can be told apart from an unknown ticket (SPEC §2.3).
    ticket_hash          bytea       UNIQUE,
    ticket_expires_at    timestamptz,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    scanned_at           timestamptz,
    decided_at           timestamptz,
    redeemed_at          timestamptz,
    poll_interval        interval    NOT NULL DEFAULT '0',
    last_poll_at         timestamptz,
    last_poll_status     text
);
CREATE INDEX qr_logins_auth_request ON qr_logins (auth_request_id, created_at) WHERE auth_request_id <> '';
CREATE INDEX qr_logins_expires_at ON qr_logins (expires_at);

-- User codes are unique only among logins that have not expired, and
-- "expired" depends on the clock, which no index predicate may read. So a
-- code is reserved here, one row per code, until the reservation's
-- expires_at (the owning login's). Creating a login claims its code with
--   INSERT … ON CONFLICT (user_code) DO UPDATE … WHERE qr_user_codes.expires_at <= now
-- which takes over a lapsed reservation and reports a live one as a
-- conflict, atomically, also between instances racing on the same code.
-- qr_logins.user_code keeps the code for display after a takeover.
CREATE TABLE qr_user_codes (
    user_code   text        PRIMARY KEY,
    qr_login_id text        NOT NULL REFERENCES qr_logins (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX qr_user_codes_login ON qr_user_codes (qr_login_id);
CREATE INDEX qr_user_codes_expires_at ON qr_user_codes (expires_at);

-- The audit trail of QR logins, appended in the same statement as each
-- transition. It lives as long as its login.
CREATE TABLE qr_audit_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    qr_login_id text        NOT NULL REFERENCES qr_logins (id) ON DELETE CASCADE,
    event       text        NOT NULL,
    client_id   text        NOT NULL DEFAULT '',
    subject     text        NOT NULL DEFAULT '',
    ip          text        NOT NULL DEFAULT '',
    at          timestamptz NOT NULL
);
CREATE INDEX qr_audit_events_login ON qr_audit_events (qr_login_id, id);

CREATE TABLE auth_requests (
    id                    text        PRIMARY KEY,
    client_id             text        NOT NULL,
    redirect_uri          text        NOT NULL DEFAULT '',
    state                 text        NOT NULL DEFAULT '',
    nonce                 text        NOT NULL DEFAULT '',
    scopes                text[]      NOT NULL DEFAULT '{}',
    response_type         text        NOT NULL DEFAULT '',
    response_mode         text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL DEFAULT '',
    code_challenge_method text        NOT NULL DEFAULT '',
    prompt                text[]      NOT NULL DEFAULT '{}',
    login_hint            text        NOT NULL DEFAULT '',
    max_age               bigint,
    subject               text        NOT NULL DEFAULT '',
    auth_time             timestamptz,
    amr                   text[]      NOT NULL DEFAULT '{}',
    done                  boolean     NOT NULL DEFAULT false,
    session_id            text        NOT NULL DEFAULT '',
    code_hash             bytea       UNIQUE,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL
);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE access_tokens (
    id               text        PRIMARY KEY,
    client_id        text        NOT NULL,
    subject          text        NOT NULL DEFAULT '',
    audience         text[]      NOT NULL DEFAULT '{}',
    scopes           text[]      NOT NULL DEFAULT '{}',
    session_id       text        NOT NULL DEFAULT '',
    refresh_token_id text        NOT NULL DEFAULT '',
    revoked          boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX access_tokens_session ON access_tokens (session_id) WHERE session_id <> '';
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id) WHERE refresh_token_id <> '';
CREATE INDEX access_tokens_subject_client ON access_tokens (subject, client_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

-- One row per link of a rotating refresh token chain; session_id is the
-- family (RFC 9700 §4.14.2).
CREATE TABLE refresh_tokens (
    id         text        PRIMARY KEY,
    token_hash bytea       NOT NULL UNIQUE,
    session_id text        NOT NULL DEFAULT '',
    client_id  text        NOT NULL,
    subject    text        NOT NULL DEFAULT '',
    audience   text[]      NOT NULL DEFAULT '{}',
    scopes     text[]      NOT NULL DEFAULT '{}',
    amr        text[]      NOT NULL DEFAULT '{}',
    auth_time  timestamptz,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked    boolean     NOT NULL DEFAULT false
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id) WHERE session_id <> '';
CREATE INDEX refresh_tokens_subject_client ON refresh_tokens (subject, client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- private_key is AES-256-GCM ciphertext of the PKCS #8 DER key under the
-- key encryption key given to the server, never the key itself.
CREATE TABLE signing_keys (
    id          text        PRIMARY KEY,
    algorithm   text        NOT NULL,
    private_key bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    not_before  timestamptz NOT NULL
);
CREATE INDEX signing_keys_created_at ON signing_keys (created_at, id);

CREATE TABLE admin_tokens (
    access_hash bytea       PRIMARY KEY,
    client_id   text        NOT NULL,
    scope       text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX admin_tokens_expires_at ON admin_tokens (expires_at);

CREATE TABLE notifications (
    id                   text        PRIMARY KEY,
    subject              text        NOT NULL,
    client_id            text        NOT NULL DEFAULT '',
    client_name          text        NOT NULL DEFAULT '',
    requester_ip         text        NOT NULL DEFAULT '',
    requester_user_agent text        NOT NULL DEFAULT '',
    reported_by_client   boolean     NOT NULL DEFAULT false,
    session_id           text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL
);
CREATE INDEX notifications_subject ON notifications (subject, created_at DESC, id DESC);

-- Shared secrets (cookie keys, token encryption key), AES-256-GCM
-- ciphertext like signing keys. The first instance to insert a name wins.
CREATE TABLE secrets (
    name       text        PRIMARY KEY,
    value      bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
