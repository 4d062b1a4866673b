-- 0009_dpop_proofs.sql: DPoP proofs spent (RFC 9449 §11.1). A proof is
-- kept by a hash of its key's thumbprint and its jti until it is too old
-- to be accepted anyway; a replay within that window, on any instance,
-- meets the row. DeleteExpired removes rows past until.
CREATE TABLE dpop_proofs (
    key   bytea       PRIMARY KEY,
    until timestamptz NOT NULL
);
CREATE INDEX dpop_proofs_until ON dpop_proofs (until);
