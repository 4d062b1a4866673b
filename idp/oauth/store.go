package oauth

import (
	"errors"
	"net/http"

	"github.com/qrlogin/qrlogin/storage"
)

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 sent
// while the store cannot serve: outages worth answering 503 for are
// mostly short (a restart, a failover, a full pool), and clients that
// poll every few seconds anyway lose nothing by trying again soon.
const RetryAfterUnavailable = 1

// StoreError is the one mapping of a store failure to an answer (SPEC §7,
// RFC 6749 §5.2):
//
//   - storage.ErrUnavailable — the database refuses or drops connections,
//     is shutting down or starting, is out of connections, or a statement
//     ran past its timeout; the request changed nothing — is Unavailable:
//     503 temporarily_unavailable with Retry-After;
//   - anything else is 500 server_error "internal error": the cause is
//     kept for the log line (WriteError logs it with the request id) and
//     never sent.
//
// Callers handle first the sentinel errors that are the client's business
// (storage.ErrNotFound, storage.ErrConflict). nil maps to nil.
func StoreError(err error) *Error {
	if err == nil {
		return nil
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return Unavailable(err)
	}
	return New(ServerError, "internal error").WithStatus(http.StatusInternalServerError).WithCause(err)
}

// Unavailable is the answer while the store cannot serve: 503
// temporarily_unavailable with Retry-After (RFC 9110 §15.6.4, §10.2.3).
func Unavailable(cause error) *Error {
	e := New(TemporarilyUnavail, "the service is temporarily unavailable").
		WithStatus(http.StatusServiceUnavailable).WithCause(cause)
	e.RetryAfter = RetryAfterUnavailable
	return e
}
