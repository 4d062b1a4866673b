package idp

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/oauth"
)

// MaxBody caps every request body (SPEC §7).
const MaxBody = 64 << 10

// contentSecurityPolicy: no framing anywhere (clickjacking of the confirm
// and login pages), only same-origin scripts and styles, QR images inline.
// Client logos are shown from their https URLs.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// headerValue is a header and its value, set on every answer.
type headerValue struct {
	key   string // canonical (textproto.CanonicalMIMEHeaderKey)
	value []string
}

// securityHeaders are the headers every answer carries: clickjacking
// (CSP frame-ancestors, X-Frame-Options), MIME sniffing, referrers, and
// HSTS unless the issuer is plain http. Each value is one shared slice
// of length and capacity 1: net/http only reads it, and an Add to it
// elsewhere would append into a new array, never into this one.
func securityHeaders(insecure bool) []headerValue {
	hs := []headerValue{
		{"Content-Security-Policy", []string{contentSecurityPolicy}},
		{"X-Frame-Options", []string{"DENY"}},
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"Referrer-Policy", []string{"no-referrer"}},
	}
	if !insecure {
		hs = append(hs, headerValue{"Strict-Transport-Security", []string{"max-age=31536000"}})
	}
	return hs
}

// middleware wraps every route: every request gets an id (X-Request-Id,
// in the answer and in its log records), panics become a logged 500, every
// answer carries the security headers, zitadel and our handlers see the
// issuer, bodies are capped, and a repeated parameter is refused.
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{id: incomingRequestID(r), route: route(mux, r), start: start}
		h := w.Header()
		// Assigned, not Set: Set makes a slice per value, and the security
		// headers' slices are made once (securityHeaders).
		h[headerRequestID] = []string{ri.id}
		for _, kv := range s.securityHeaders {
			h[kv.key] = kv.value
		}
		// The request's context is built once and set once: each
		// r.WithContext copies the whole request.
		ctx := withRequestInfo(r.Context(), ri)
		ctx, ri.span = s.startRequestSpan(ctx, r, ri)
		ctx = op.ContextWithIssuer(ctx, s.cfg.Issuer)
		ctx = s.withClientIP(ctx, r)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		defer func() {
			if !ri.parked {
				s.finishRequest(r, ri, sw, time.Since(start))
			}
		}()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// The route, not the path: /q/{qr_id}'s path is a QR's secret.
				s.log.ErrorContext(r.Context(), "panic", "route", ri.route, "panic", v, "stack", string(debug.Stack()))
				oauth.WriteError(w, nil, oauth.New(oauth.ServerError, "internal error").WithStatus(http.StatusInternalServerError))
			}
		}()
		if s.cors(w, r) {
			return // a preflight, answered
		}

		var body []byte
		if r.Body != nil && r.Body != http.NoBody {
			if r.ContentLength > MaxBody {
				oauth.WriteError(w, nil, oauth.New("request_too_large", "request body exceeds 64 KiB").WithStatus(http.StatusRequestEntityTooLarge))
				return
			}
			var err error
			body, err = io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
			_ = r.Body.Close()
			if err != nil {
				oauth.WriteError(w, nil, oauth.New(oauth.InvalidRequest, "cannot read request body"))
				return
			}
			if len(body) > MaxBody {
				oauth.WriteError(w, nil, oauth.New("request_too_large", "request body exceeds 64 KiB").WithStatus(http.StatusRequestEntityTooLarge))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		params, err := checkParams(r)
		if err == nil {
			err = checkInput(r, params, body)
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// checkParams parses query and form body and refuses any parameter sent
// more than once (RFC 6749 §3.1, §3.2: parameters MUST NOT be included
// more than once), including once in the query and once in the body. It
// returns every parameter, for checkInput.
func checkParams(r *http.Request) (url.Values, error) {
	if isForm(r) && !jsonAPI(r.URL.Path) {
		if err := r.ParseForm(); err != nil {
			return nil, oauth.New(oauth.InvalidRequest, "malformed form body")
		}
		return r.Form, repeated(r.Form)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, oauth.New(oauth.InvalidRequest, "malformed query string")
	}
	return q, repeated(q)
}

func repeated(values map[string][]string) error {
	for k, v := range values {
		if len(v) > 1 {
			return oauth.New(oauth.InvalidRequest, "parameter "+oauth.SafeName(k)+" is repeated")
		}
	}
	return nil
}

// jsonAPI reports whether path takes a JSON body (the phone and account
// APIs): its body is never parsed as a form, whatever Content-Type says.
func jsonAPI(path string) bool {
	return path == "/qr/scan" || path == "/qr/confirm" || path == "/qr/deny" || strings.HasPrefix(path, "/account/")
}

func isForm(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

// retryAfter makes every 503 of next say when to try again (RFC 9110
// §10.2.3): zitadel's answers carry no Retry-After.
func retryAfter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(retryAfterWriter{w}, r)
	})
}

type retryAfterWriter struct{ http.ResponseWriter }

func (w retryAfterWriter) WriteHeader(status int) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(oauth.RetryAfterUnavailable))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w retryAfterWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferedWriter captures a zitadel answer so it can be amended before it
// is sent (Cache-Control, the status of invalid_client).
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// send writes the captured answer, as amended, to w (200 if no status was
// set).
func (b *bufferedWriter) send(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
