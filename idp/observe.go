package idp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/storage"
)

// The request log, the per-route metrics and the HTTP spans, written
// once per request by the middleware; and the security events.

// zitadelRoutes are the paths zitadel's router serves behind our "/"
// pattern. A request elsewhere under "/" is labelled unmatchedRoute, so a
// scan of random paths cannot grow the metrics' label sets.
var zitadelRoutes = map[string]bool{
	"/" + pathAuthorize + "/callback":   true,
	"/" + pathToken:                     true, // GET: zitadel's 405
	"/" + pathIntrospect:                true,
	"/" + pathUserinfo:                  true,
	"/" + pathRevoke:                    true,
	"/" + pathEndSession:                true,
	"/" + pathKeys:                      true,
	"/.well-known/openid-configuration": true,
	"/healthz":                          true,
	"/ready":                            true,
}

const unmatchedRoute = "unmatched"

// route is the request's route for logs, metrics and spans: the mux
// pattern without its method (/q/{qr_id}, never the qr_id itself), the
// path of one of zitadel's endpoints, or "unmatched".
func route(mux *http.ServeMux, r *http.Request) string {
	_, pattern := mux.Handler(r)
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	switch {
	case pattern == "/" && zitadelRoutes[r.URL.Path]:
		return r.URL.Path
	case pattern == "" || pattern == "/":
		return unmatchedRoute
	}
	return pattern
}

// statusWriter remembers the status and counts the body bytes of an
// answer. Unwrap lets http.ResponseController reach the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finishRequest records a request once answered: its duration by route
// and status, its span, and its one log line. Nothing of the URL but its
// route is logged: paths and queries carry qr_ids, codes and states. At
// debug level the line also carries the User-Agent.
func (s *Server) finishRequest(r *http.Request, ri *requestInfo, w *statusWriter, took time.Duration) {
	ctx := r.Context()
	status := w.status
	if status == 0 {
		// The handler wrote nothing: the client went away during a
		// long-poll, or the server answers an empty 200.
		status = http.StatusOK
		if ctx.Err() != nil {
			status = statusClientClosed
		}
	}
	s.metrics.request(ri.route, status, took)
	endRequestSpan(ri.span, ri, status)
	level := slog.LevelInfo
	if ri.route == "/healthz" || ri.route == "/ready" {
		// A load balancer's probes, every few seconds: at debug only.
		level = slog.LevelDebug
	}
	h := s.log.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	// The record is made here rather than by Logger.LogAttrs, which walks
	// the stack for the record's source location: always this function,
	// and serve's handlers do not write it (no AddSource).
	rec := slog.NewRecord(time.Now(), level, "request", 0)
	rec.AddAttrs(
		slog.String("method", r.Method),
		slog.String("route", ri.route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.Int64("bytes", w.bytes),
		slog.String("ip", clientIP(r)),
	)
	if ri.clientID != "" {
		rec.AddAttrs(slog.String("client_id", ri.clientID))
	}
	if h.Enabled(ctx, slog.LevelDebug) {
		rec.AddAttrs(slog.String("user_agent", truncate(r.UserAgent(), 256)))
	}
	_ = h.Handle(ctx, rec)
}

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer (a long-poll given up).
const statusClientClosed = 499

// Security events: logged at WARN with a stable event name, for alerting
// and for a brute-force trail. They never carry a password, a code, a
// ticket or a token.
const (
	eventSigninFailed         = "signin_failed"
	eventLockout              = "lockout"
	eventTokenReuse           = "token_reuse_detected"
	eventQRDenied             = "qr_denied"
	eventSessionRevokedByUser = "session_revoked_by_user"
	// admin_auth_failed is logged by package admin.
)

// securityEvent logs event at WARN with the request's id.
func (s *Server) securityEvent(ctx context.Context, event, msg string, attrs ...slog.Attr) {
	s.metrics.securityEvents.WithLabelValues(event).Inc()
	s.log.LogAttrs(ctx, slog.LevelWarn, msg, append([]slog.Attr{slog.String("event", event)}, attrs...)...)
}

// signinFailed records a wrong username or password (err from
// checkPassword). The username is logged only when an account has it: a
// username no account has is often a password typed in the wrong field,
// and a password must never reach a log.
func (s *Server) signinFailed(r *http.Request, username string, err error) {
	s.securityEvent(r.Context(), eventSigninFailed, "password sign-in failed",
		append(who(username, !errors.Is(err, errUnknownUser)), slog.String("ip", clientIP(r)))...)
}

// lockedOut records the first lockout of a run of wrong passwords for a
// username (see lockouts); known says whether an account has it.
func (s *Server) lockedOut(r *http.Request, username string, known bool, lockedFor time.Duration) {
	s.securityEvent(r.Context(), eventLockout, "password sign-ins locked for this username after wrong passwords",
		append(who(username, known), slog.String("ip", clientIP(r)), slog.Duration("locked_for", lockedFor))...)
}

func who(username string, known bool) []slog.Attr {
	if !known {
		return []slog.Attr{slog.Bool("user_known", false)}
	}
	return []slog.Attr{slog.Bool("user_known", true), slog.String("username", truncate(username, 64))}
}

// qrStep is grants' Config.Observe: every committed step of a QR login,
// whichever path made it, is counted here, logged at debug, and a denial
// is a security event (an unexpected sign-in attempt, or a user's
// mistake).
func (s *Server) qrStep(ctx context.Context, step grants.Step, l *storage.QRLogin) {
	s.metrics.step(step, l)
	s.log.LogAttrs(ctx, slog.LevelDebug, "qr login step", slog.String("step", string(step)),
		slog.String("login_id", l.ID), slog.String("client_id", l.ClientID), slog.String("sub", l.Subject))
	if step == grants.StepDenied {
		s.securityEvent(ctx, eventQRDenied, "QR login denied on the phone", slog.String("login_id", l.ID),
			slog.String("client_id", l.ClientID), slog.String("sub", l.Subject), slog.String("requester_ip", l.RequesterIP))
	}
}
