package idp

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/qrlogin/qrlogin/storage"
)

// headerRequestID carries a request's id in and out. A proxy or client
// that sends one sees its own id in our logs; otherwise we make one.
const headerRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming id: it is copied into every log line
// of the request and into the answer.
const maxRequestIDLen = 64

// requestInfo is the request-scoped record the middleware creates and the
// handlers fill in: the request log line is written from it once the
// handler returns. Only the request's own goroutine touches it.
type requestInfo struct {
	id       string
	route    string // see route
	clientID string // the client, once a handler knows it
	span     trace.Span
	start    time.Time
	// parked: the request's long-poll was parked (park.go), whose answer
	// finishes the request, not the middleware.
	parked bool
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, ri *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

func infoOf(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// requestID is the id of the request ctx belongs to, "" outside one.
func requestID(ctx context.Context) string {
	if ri := infoOf(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// setClientID records the registered client a request acts for, for its
// log line: the first one a handler names (the authenticated client, the
// phone app of a bearer token, the client of an authorization request).
// Client ids are registered by an administrator: not secret, bounded.
func setClientID(ctx context.Context, id string) {
	if ri := infoOf(ctx); ri != nil && ri.clientID == "" && id != "" {
		ri.clientID = id
	}
}

// validRequestID accepts 1 to 64 printable ASCII characters without space
// (0x21–0x7e): enough for a UUID, a W3C trace id or a proxy's own format,
// and nothing that could break a log line or a header.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID makes an id of 96 random bits (16 base64url characters).
func newRequestID() string { return storage.NewSecret(12) }

// incomingRequestID is the request's id: the caller's X-Request-Id when
// sane (exactly one header, valid), else a new one.
func incomingRequestID(r *http.Request) string {
	if v := r.Header.Values(headerRequestID); len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

// requestIDHandler adds request_id (and client_id once known) to every
// record logged with a request's context, so handlers need not pass them.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if ri := infoOf(ctx); ri != nil {
		r.AddAttrs(slog.String("request_id", ri.id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// withRequestIDs wraps a logger so that records logged with a request's
// context carry its request_id.
func withRequestIDs(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(requestIDHandler); ok {
		return l
	}
	return slog.New(requestIDHandler{l.Handler()})
}

// RequestIDs gives the requests of another listener (the admin listener,
// wired by serve) ids as the provider's middleware does: the caller's
// X-Request-Id when sane, else a new one, in the answer and in the
// request's context, where a logger from LogWithRequestIDs finds it.
func RequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &requestInfo{id: incomingRequestID(r)}
		w.Header().Set(headerRequestID, ri.id)
		next.ServeHTTP(w, r.WithContext(withRequestInfo(r.Context(), ri)))
	})
}

// LogWithRequestIDs wraps l so that records logged with the context of a
// request that passed RequestIDs (or the provider's middleware) carry its
// request_id.
func LogWithRequestIDs(l *slog.Logger) *slog.Logger { return withRequestIDs(l) }
