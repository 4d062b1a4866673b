package idp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/qrlogin/qrlogin/grants"
	"github.com/qrlogin/qrlogin/storage"
)

// observedStore wraps the store every part of the provider uses: each call
// is timed (qrlogin_store_call_duration_seconds), its failures counted by
// kind (qrlogin_store_errors_total), and traced as a span "store.<Op>"
// under the request's. A call that touches a QR login names it
// (grants.AttrLoginID) on its span and on the request's span, which is
// how a trace links the PC's requests with the phone's.
//
// Methods a backend gains before this file learns them pass through the
// embedded Store unobserved.
type observedStore struct {
	storage.Store
	metrics *metrics
	tracer  trace.Tracer
	tracing bool // tracingOn: without it, no span is started
	log     *slog.Logger
}

// span starts a store call's span, when tracing is on.
func (s *observedStore) span(ctx context.Context, op string) (context.Context, trace.Span) {
	if !s.tracing {
		return ctx, noopSpan
	}
	return s.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient))
}

func observe0(s *observedStore, ctx context.Context, op, loginID string, f func(context.Context) error) error {
	ctx, span := s.span(ctx, op)
	start := time.Now()
	err := f(ctx)
	s.done(ctx, span, op, loginID, nil, err, time.Since(start))
	return err
}

func observe1[T any](s *observedStore, ctx context.Context, op, loginID string, f func(context.Context) (T, error)) (T, error) {
	ctx, span := s.span(ctx, op)
	start := time.Now()
	v, err := f(ctx)
	s.done(ctx, span, op, loginID, v, err, time.Since(start))
	return v, err
}

func (s *observedStore) done(ctx context.Context, span trace.Span, op, loginID string, result any, err error, took time.Duration) {
	s.metrics.storeCall(op).Observe(took.Seconds())
	if span.IsRecording() {
		if l, ok := result.(*storage.QRLogin); ok && l != nil && err == nil {
			loginID = l.ID
		}
		if a, ok := result.(*storage.Applied); ok && a != nil && err == nil {
			loginID = a.Login.ID
		}
		if loginID != "" {
			span.SetAttributes(attribute.String(grants.AttrLoginID, loginID))
			if ri := infoOf(ctx); ri != nil && ri.span != nil && ri.span.IsRecording() {
				ri.span.SetAttributes(attribute.String(grants.AttrLoginID, loginID))
			}
		}
	}
	switch {
	case err == nil, errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict):
		// Answers, not failures: a wrong code, a lost race.
	default:
		kind := "other"
		if errors.Is(err, storage.ErrUnavailable) {
			kind = "unavailable"
		}
		s.metrics.storeErrors.WithLabelValues(op, kind).Inc()
		span.SetStatus(codes.Error, kind)
		s.log.LogAttrs(ctx, slog.LevelDebug, "store call failed", slog.String("op", op), slog.String("kind", kind), slog.Any("err", err))
	}
	span.End()
}

func (o *observedStore) Secret(ctx context.Context, name string, generate func() []byte) ([]byte, error) {
	return observe1(o, ctx, "Secret", "", func(ctx context.Context) ([]byte, error) { return o.Store.Secret(ctx, name, generate) })
}

func (o *observedStore) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	return observe1(o, ctx, "DeleteExpired", "", func(ctx context.Context) (int, error) { return o.Store.DeleteExpired(ctx, before, limit) })
}

func (o *observedStore) DeleteAuditEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	return observe1(o, ctx, "DeleteAuditEvents", "", func(ctx context.Context) (int, error) { return o.Store.DeleteAuditEvents(ctx, before, limit) })
}

func (o *observedStore) Ping(ctx context.Context) error {
	return observe0(o, ctx, "Ping", "", func(ctx context.Context) error { return o.Store.Ping(ctx) })
}

func (o *observedStore) CreateClient(ctx context.Context, c *storage.Client) error {
	return observe0(o, ctx, "CreateClient", "", func(ctx context.Context) error { return o.Store.CreateClient(ctx, c) })
}

func (o *observedStore) Client(ctx context.Context, id string) (*storage.Client, error) {
	return observe1(o, ctx, "Client", "", func(ctx context.Context) (*storage.Client, error) { return o.Store.Client(ctx, id) })
}

func (o *observedStore) ListClients(ctx context.Context) ([]*storage.Client, error) {
	return observe1(o, ctx, "ListClients", "", func(ctx context.Context) ([]*storage.Client, error) { return o.Store.ListClients(ctx) })
}

func (o *observedStore) DeleteClient(ctx context.Context, id string) error {
	return observe0(o, ctx, "DeleteClient", "", func(ctx context.Context) error { return o.Store.DeleteClient(ctx, id) })
}

func (o *observedStore) SetClientSecretHash(ctx context.Context, id string, hash []byte) error {
	return observe0(o, ctx, "SetClientSecretHash", "", func(ctx context.Context) error { return o.Store.SetClientSecretHash(ctx, id, hash) })
}

func (o *observedStore) CreateUser(ctx context.Context, u *storage.User) error {
	return observe0(o, ctx, "CreateUser", "", func(ctx context.Context) error { return o.Store.CreateUser(ctx, u) })
}

func (o *observedStore) User(ctx context.Context, id string) (*storage.User, error) {
	return observe1(o, ctx, "User", "", func(ctx context.Context) (*storage.User, error) { return o.Store.User(ctx, id) })
}

func (o *observedStore) UserByUsername(ctx context.Context, username string) (*storage.User, error) {
	return observe1(o, ctx, "UserByUsername", "", func(ctx context.Context) (*storage.User, error) { return o.Store.UserByUsername(ctx, username) })
}

func (o *observedStore) ListUsers(ctx context.Context) ([]*storage.User, error) {
	return observe1(o, ctx, "ListUsers", "", func(ctx context.Context) ([]*storage.User, error) { return o.Store.ListUsers(ctx) })
}

func (o *observedStore) DeleteUser(ctx context.Context, id string) error {
	return observe0(o, ctx, "DeleteUser", "", func(ctx context.Context) error { return o.Store.DeleteUser(ctx, id) })
}

func (o *observedStore) CreateQRLogin(ctx context.Context, l *storage.QRLogin) error {
	return observe0(o, ctx, "CreateQRLogin", l.ID, func(ctx context.Context) error { return o.Store.CreateQRLogin(ctx, l) })
}

func (o *observedStore) QRLogin(ctx context.Context, id string) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLogin", id, func(ctx context.Context) (*storage.QRLogin, error) { return o.Store.QRLogin(ctx, id) })
}

func (o *observedStore) QRLoginByQRIDHash(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLoginByQRIDHash", "", func(ctx context.Context) (*storage.QRLogin, error) { return o.Store.QRLoginByQRIDHash(ctx, hash) })
}

func (o *observedStore) QRLoginByTicketHash(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLoginByTicketHash", "", func(ctx context.Context) (*storage.QRLogin, error) { return o.Store.QRLoginByTicketHash(ctx, hash) })
}

func (o *observedStore) QRLoginByUserCode(ctx context.Context, code string, now time.Time) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLoginByUserCode", "", func(ctx context.Context) (*storage.QRLogin, error) { return o.Store.QRLoginByUserCode(ctx, code, now) })
}

func (o *observedStore) QRLoginByAuthRequest(ctx context.Context, authRequestID string) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLoginByAuthRequest", "", func(ctx context.Context) (*storage.QRLogin, error) {
		return o.Store.QRLoginByAuthRequest(ctx, authRequestID)
	})
}

func (o *observedStore) QRLoginByDeviceCode(ctx context.Context, hash []byte) (*storage.QRLogin, error) {
	return observe1(o, ctx, "QRLoginByDeviceCode", "", func(ctx context.Context) (*storage.QRLogin, error) { return o.Store.QRLoginByDeviceCode(ctx, hash) })
}

// ApplyQR is observed per event, op "ApplyQR.scan", "ApplyQR.redeem", …:
// each event is its own statement, with its own cost.
func (o *observedStore) ApplyQR(ctx context.Context, a *storage.Attempt) (*storage.Applied, error) {
	return observe1(o, ctx, "ApplyQR."+a.Event.String(), a.ID, func(ctx context.Context) (*storage.Applied, error) { return o.Store.ApplyQR(ctx, a) })
}

func (o *observedStore) QRAuditEvents(ctx context.Context, qrLoginID string) ([]storage.AuditEvent, error) {
	return observe1(o, ctx, "QRAuditEvents", "", func(ctx context.Context) ([]storage.AuditEvent, error) { return o.Store.QRAuditEvents(ctx, qrLoginID) })
}

func (o *observedStore) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	return observe0(o, ctx, "CreateAuthRequest", "", func(ctx context.Context) error { return o.Store.CreateAuthRequest(ctx, a) })
}

func (o *observedStore) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	return observe1(o, ctx, "AuthRequest", "", func(ctx context.Context) (*storage.AuthRequest, error) { return o.Store.AuthRequest(ctx, id, now) })
}

func (o *observedStore) CompleteAuthRequest(ctx context.Context, id string, subject string, authTime time.Time, amr []string, sessionChoice string) error {
	return observe0(o, ctx, "CompleteAuthRequest", "", func(ctx context.Context) error {
		return o.Store.CompleteAuthRequest(ctx, id, subject, authTime, amr, sessionChoice)
	})
}

func (o *observedStore) SaveAuthCode(ctx context.Context, id string, codeHash []byte) error {
	return observe0(o, ctx, "SaveAuthCode", "", func(ctx context.Context) error { return o.Store.SaveAuthCode(ctx, id, codeHash) })
}

func (o *observedStore) ConsumeAuthCode(ctx context.Context, codeHash []byte, now, revokeUntil time.Time) (*storage.AuthRequest, error) {
	return observe1(o, ctx, "ConsumeAuthCode", "", func(ctx context.Context) (*storage.AuthRequest, error) {
		return o.Store.ConsumeAuthCode(ctx, codeHash, now, revokeUntil)
	})
}

func (o *observedStore) DeleteAuthRequest(ctx context.Context, id string) error {
	return observe0(o, ctx, "DeleteAuthRequest", "", func(ctx context.Context) error { return o.Store.DeleteAuthRequest(ctx, id) })
}

func (o *observedStore) CreateAccessToken(ctx context.Context, t *storage.AccessToken) error {
	return observe0(o, ctx, "CreateAccessToken", "", func(ctx context.Context) error { return o.Store.CreateAccessToken(ctx, t) })
}

func (o *observedStore) AccessToken(ctx context.Context, id string, now time.Time) (*storage.AccessToken, error) {
	return observe1(o, ctx, "AccessToken", "", func(ctx context.Context) (*storage.AccessToken, error) { return o.Store.AccessToken(ctx, id, now) })
}

func (o *observedStore) RevokeAccessToken(ctx context.Context, id string) error {
	return observe0(o, ctx, "RevokeAccessToken", "", func(ctx context.Context) error { return o.Store.RevokeAccessToken(ctx, id) })
}

func (o *observedStore) CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	return observe0(o, ctx, "CreateRefreshToken", "", func(ctx context.Context) error { return o.Store.CreateRefreshToken(ctx, t) })
}

func (o *observedStore) RefreshTokenByHash(ctx context.Context, hash []byte) (*storage.RefreshToken, error) {
	return observe1(o, ctx, "RefreshTokenByHash", "", func(ctx context.Context) (*storage.RefreshToken, error) { return o.Store.RefreshTokenByHash(ctx, hash) })
}

func (o *observedStore) RotateRefreshToken(ctx context.Context, oldHash []byte, next *storage.RefreshToken, now time.Time) error {
	return observe0(o, ctx, "RotateRefreshToken", "", func(ctx context.Context) error { return o.Store.RotateRefreshToken(ctx, oldHash, next, now) })
}

func (o *observedStore) RevokeRefreshToken(ctx context.Context, id string) error {
	return observe0(o, ctx, "RevokeRefreshToken", "", func(ctx context.Context) error { return o.Store.RevokeRefreshToken(ctx, id) })
}

func (o *observedStore) RevokeSession(ctx context.Context, sessionID string, until time.Time) error {
	return observe0(o, ctx, "RevokeSession", "", func(ctx context.Context) error { return o.Store.RevokeSession(ctx, sessionID, until) })
}

func (o *observedStore) RevokeUserClientSessions(ctx context.Context, subject string, clientID string) error {
	return observe0(o, ctx, "RevokeUserClientSessions", "", func(ctx context.Context) error { return o.Store.RevokeUserClientSessions(ctx, subject, clientID) })
}

func (o *observedStore) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	return observe0(o, ctx, "CreateSigningKey", "", func(ctx context.Context) error { return o.Store.CreateSigningKey(ctx, k) })
}

func (o *observedStore) SigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	return observe1(o, ctx, "SigningKeys", "", func(ctx context.Context) ([]*storage.SigningKey, error) { return o.Store.SigningKeys(ctx) })
}

func (o *observedStore) DeleteSigningKey(ctx context.Context, id string) error {
	return observe0(o, ctx, "DeleteSigningKey", "", func(ctx context.Context) error { return o.Store.DeleteSigningKey(ctx, id) })
}

func (o *observedStore) CreateAdminToken(ctx context.Context, t *storage.AdminToken) error {
	return observe0(o, ctx, "CreateAdminToken", "", func(ctx context.Context) error { return o.Store.CreateAdminToken(ctx, t) })
}

func (o *observedStore) AdminToken(ctx context.Context, accessHash []byte, now time.Time) (*storage.AdminToken, error) {
	return observe1(o, ctx, "AdminToken", "", func(ctx context.Context) (*storage.AdminToken, error) {
		return o.Store.AdminToken(ctx, accessHash, now)
	})
}

func (o *observedStore) DeleteAdminToken(ctx context.Context, accessHash []byte) error {
	return observe0(o, ctx, "DeleteAdminToken", "", func(ctx context.Context) error { return o.Store.DeleteAdminToken(ctx, accessHash) })
}

func (o *observedStore) CreateNotification(ctx context.Context, n *storage.Notification) error {
	return observe0(o, ctx, "CreateNotification", "", func(ctx context.Context) error { return o.Store.CreateNotification(ctx, n) })
}

func (o *observedStore) Notifications(ctx context.Context, subject string, limit int) ([]*storage.Notification, error) {
	return observe1(o, ctx, "Notifications", "", func(ctx context.Context) ([]*storage.Notification, error) {
		return o.Store.Notifications(ctx, subject, limit)
	})
}

func (o *observedStore) Notification(ctx context.Context, id string) (*storage.Notification, error) {
	return observe1(o, ctx, "Notification", "", func(ctx context.Context) (*storage.Notification, error) { return o.Store.Notification(ctx, id) })
}

func (o *observedStore) UseDPoPProof(ctx context.Context, key []byte, until, now time.Time) error {
	return observe0(o, ctx, "UseDPoPProof", "", func(ctx context.Context) error { return o.Store.UseDPoPProof(ctx, key, until, now) })
}
