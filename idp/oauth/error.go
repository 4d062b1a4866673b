package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 8628 §3.5, RFC 6750 §3.1,
// OIDC Core §3.1.2.6 and SPEC §2.3.
const (
	InvalidRequest       = "invalid_request"
	InvalidClient        = "invalid_client"
	InvalidGrant         = "invalid_grant"
	UnauthorizedClient   = "unauthorized_client"
	UnsupportedGrantType = "unsupported_grant_type"
	InvalidScope         = "invalid_scope"
	AccessDenied         = "access_denied"
	AuthorizationPending = "authorization_pending"
	SlowDown             = "slow_down"
	ExpiredToken         = "expired_token"
	InvalidToken         = "invalid_token"
	InsufficientScope    = "insufficient_scope"
	Forbidden            = "forbidden"
	QRNotFound           = "qr_not_found"
	QRAlreadyScanned     = "qr_already_scanned"
	QRAlreadyDecided     = "qr_already_decided"
	TooManyRequests      = "too_many_requests"
	TemporarilyUnavail   = "temporarily_unavailable"
	ServerError          = "server_error"

	// Authorization endpoint errors (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
	UnsupportedResponseType = "unsupported_response_type"
	RequestNotSupported     = "request_not_supported"
	RequestURINotSupported  = "request_uri_not_supported"
	LoginRequired           = "login_required"
	InteractionRequired     = "interaction_required"

	// InvalidDPoPProof: a DPoP proof is missing where one is required, or
	// fails a check of RFC 9449 §4.3 (RFC 9449 §5, §7.1).
	InvalidDPoPProof = "invalid_dpop_proof"
)

// Error is an OAuth error answer. Build a fresh value for every answer
// (the constructors below do); never share and mutate one.
type Error struct {
	Code        string // error code
	Description string // safe to show the client
	Status      int    // HTTP status; 400 when zero
	// Extra holds extension members of the body (qr_status, interval).
	Extra map[string]any
	// RetryAfter, when positive, is sent as Retry-After seconds (429, 503).
	RetryAfter int
	// Challenge, when set, is sent as WWW-Authenticate: "Bearer" for the
	// RFC 6750 §3 errors, "DPoP" and its parameters (algs="…") for RFC
	// 9449 §7.1's, "Basic" for RFC 6749 §5.2 invalid_client. Every 401
	// carries one (RFC 9110 §15.5.2).
	Challenge string
	// BareChallenge leaves the error out of a Bearer or DPoP challenge: the
	// request carried no token at all (RFC 6750 §3.1).
	BareChallenge bool
	Err           error // cause: logged, never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Description, e.Err)
	}
	if e.Description != "" {
		return e.Code + ": " + e.Description
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with status 400.
func New(code, description string) *Error {
	return &Error{Code: code, Description: description, Status: http.StatusBadRequest}
}

// WithStatus sets the HTTP status and returns e.
func (e *Error) WithStatus(status int) *Error { e.Status = status; return e }

// WithCause records the cause (logged, never sent) and returns e.
func (e *Error) WithCause(err error) *Error { e.Err = err; return e }

// With adds an extension member to the body and returns e.
func (e *Error) With(key string, value any) *Error {
	if e.Extra == nil {
		e.Extra = map[string]any{}
	}
	e.Extra[key] = value
	return e
}

// WriteError writes err as a JSON error body with Cache-Control: no-store.
// An *Error anywhere in the chain is written as is; anything else is logged
// and answered with a 500 server_error that leaks nothing.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	var e *Error
	// The request's id is on the answer already (the middleware sets
	// X-Request-Id first): the log line names the id the client was given.
	id := w.Header().Get("X-Request-Id")
	if !errors.As(err, &e) {
		if log != nil {
			log.Error("internal error", "request_id", id, "err", err)
		}
		e = New(ServerError, "internal error").WithStatus(http.StatusInternalServerError)
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if status >= 500 && log != nil && e.Err != nil {
		log.Error("request failed", "request_id", id, "code", e.Code, "err", e.Err)
	}
	body := make(map[string]any, 2+len(e.Extra))
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = e.Code
	if e.Description != "" {
		body["error_description"] = e.Description
	}
	h := w.Header()
	setJSONHeaders(h)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	switch scheme, params, _ := strings.Cut(e.Challenge, " "); scheme {
	case "Basic":
		h.Set("WWW-Authenticate", `Basic realm="qrlogin"`)
	case "Bearer", "DPoP":
		// RFC 6750 §3, RFC 9449 §7.1: the resource server includes
		// WWW-Authenticate, with the scheme's own parameters (DPoP: algs).
		v := scheme + ` realm="qrlogin"`
		if params != "" {
			v += ", " + params
		}
		if !e.BareChallenge {
			v += `, error="` + e.Code + `"`
			if e.Description != "" {
				v += `, error_description="` + sanitizeQuoted(e.Description) + `"`
			}
		}
		h.Set("WWW-Authenticate", v)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// WriteJSON writes v as a JSON body with Cache-Control: no-store.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteEncoded writes body, a JSON value already encoded, as WriteJSON
// would write it; body may be reused once it returns.
func WriteEncoded(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// The headers of every JSON answer (RFC 6749 §5.1: no-store, no-cache).
// Each value is one shared slice of length and capacity 1, set without
// h.Set's copy: net/http only reads it, and an Add to it elsewhere
// appends into a new array.
var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
	noCache         = []string{"no-cache"}
)

func setJSONHeaders(h http.Header) {
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["Pragma"] = noCache
}

// sanitizeQuoted keeps a header quoted-string to the characters RFC 6750
// §3 allows in error_description (%x20-21 / %x23-5B / %x5D-7E).
func sanitizeQuoted(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			out = append(out, c)
		}
	}
	return string(out)
}
