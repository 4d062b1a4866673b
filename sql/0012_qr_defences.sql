-- 0012_qr_defences.sql: the defences against QR relay, each a policy of
-- the client (README "Defences against QR relay"), and what a QR login
-- keeps of them when it starts: a login keeps the rules it began with, and
-- its conditional UPDATEs read them from its own row.
--
-- clients.qr_session: what the phone's confirm screen offers for the
-- tokens ('' is the default, keep). clients.qr_second_scan: what a scan by
-- another account of an already scanned QR does ('' is the default,
-- alarm).
ALTER TABLE clients
    ADD COLUMN qr_number_matching boolean NOT NULL DEFAULT false,
    ADD COLUMN qr_session text NOT NULL DEFAULT ''
        CHECK (qr_session IN ('', 'keep', 'this_session', 'ask', 'ask_this_session')),
    ADD COLUMN qr_second_scan text NOT NULL DEFAULT ''
        CHECK (qr_second_scan IN ('', 'alarm', 'refuse'));

-- match_number: the two-digit number of number matching (0: off), shown
-- to the PC once scanned; match_choices: the three the phone offers.
-- session_choice: keep or this_session, the client's default until the
-- confirmation records the user's. Logins started before this migration
-- keep the old rules (no number, no alarm, keep).
ALTER TABLE qr_logins
    ADD COLUMN match_number smallint NOT NULL DEFAULT 0 CHECK (match_number BETWEEN 0 AND 99),
    ADD COLUMN match_choices smallint[] NOT NULL DEFAULT '{}',
    ADD COLUMN second_scan_alarm boolean NOT NULL DEFAULT false,
    ADD COLUMN session_choice text NOT NULL DEFAULT 'keep',
    ADD COLUMN session_choosable boolean NOT NULL DEFAULT false;

-- Notifications: the alarms of number matching and of a second scan, and
-- what a QR sign-in's tokens are for.
ALTER TABLE notifications
    DROP CONSTRAINT notifications_kind_check,
    ADD CONSTRAINT notifications_kind_check
        CHECK (kind IN ('sign_in', 'password_lockout', 'qr_wrong_number', 'qr_second_scan')),
    ADD COLUMN session_choice text NOT NULL DEFAULT '';
