-- 0014_auth_request_session_choice.sql: the session choice of a QR login
-- that completes an authorization request of the hosted login page (README
-- "Defences against QR relay"): its code's tokens follow it. '' is keep.
ALTER TABLE auth_requests ADD COLUMN session_choice text NOT NULL DEFAULT ''
    CHECK (session_choice IN ('', 'keep', 'this_session'));
