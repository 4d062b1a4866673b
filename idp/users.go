package idp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

// User lifecycle (issue 8, finding 9): a password change or a disable ends
// everything the user is signed in with. The rule lives in updateUser; the
// admin API reaches it through Users, the phone app through
// POST /account/password.

// Users is the account manager the admin API updates users through
// (admin.Config.Users).
func (s *Server) Users() admin.UserManager { return userManager{s} }

type userManager struct{ s *Server }

// UpdateUser implements admin.UserManager: an administrator's change
// spares no session.
func (m userManager) UpdateUser(ctx context.Context, id string, ch admin.UserChange) (*storage.User, error) {
	return m.s.updateUser(ctx, id, ch, "")
}

// updateUser applies ch to user id. A new password is hashed behind the
// argon2id gate (password.ErrBusy when it is full). A new password or a
// disable signs the user out everywhere except session keep, in the same
// atomic operation as the change (storage.SignOut: tokens and refresh
// families revoked, pending tickets and unredeemed QR logins voided,
// unexchanged codes worthless), then deletes the user's browser sessions.
// If that last step fails the error is returned although the change
// applied: repeating the change is safe.
func (s *Server) updateUser(ctx context.Context, id string, ch admin.UserChange, keep string) (*storage.User, error) {
	upd := storage.UserUpdate{Name: ch.Name, Email: ch.Email, EmailVerified: ch.EmailVerified, Disabled: ch.Disabled}
	if ch.Password != nil {
		hash, err := s.hashes.Hash(ctx, *ch.Password)
		if err != nil {
			return nil, err
		}
		upd.PasswordHash = &hash
	}
	if ch.Password != nil || (ch.Disabled != nil && *ch.Disabled) {
		upd.SignOut = &storage.SignOut{KeepSession: keep, Now: s.cfg.Now().UTC().Truncate(time.Microsecond), Until: tombstone(&s.cfg)}
	}
	u, err := s.store.UpdateUser(ctx, id, upd)
	if err != nil {
		return nil, err
	}
	if upd.SignOut != nil {
		if _, err := s.store.DeleteUserSessions(ctx, id); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "user signed out everywhere", "sub", id, "password_changed", ch.Password != nil,
			"disabled", u.Disabled, "kept_phone_session", keep != "")
	}
	return u, nil
}

// passwordChange is the body of POST /account/password.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// handleChangePassword lets the phone app change its user's password. It
// needs the current password, checked within the account's wrong-password
// budget like a sign-in (a stolen phone token must not become a password
// oracle); the new one must meet password.CheckPolicy. Every other sign-in
// of the user ends; the phone session that made the change stays.
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	pt, err := s.authenticatePhone(r)
	if err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	var body passwordChange
	if err := jsonBody(r, &body); err != nil {
		oauth.WriteError(w, s.log, err)
		return
	}
	if err := password.CheckPolicy(body.New); err != nil {
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "new_password: "+err.Error()))
		return
	}
	if body.Current == "" || len(body.Current) > password.MaxLength {
		oauth.WriteError(w, s.log, oauth.New(oauth.InvalidRequest, "current_password is required"))
		return
	}
	ctx := r.Context()
	u, err := s.store.User(ctx, pt.token.Subject)
	if err != nil {
		if e := storeErr(err); e != nil {
			oauth.WriteError(w, s.log, e)
			return
		}
		oauth.WriteError(w, s.log, invalidToken("the account no longer exists"))
		return
	}
	if ok, retry := s.lockouts.reserve(u.Username); !ok {
		oauth.WriteError(w, s.log, s.refused(limitPasswordAccount, retry))
		return
	}
	res := checkVoid
	defer func() {
		if first, d := s.lockouts.settle(u.Username, res); first {
			s.lockoutNotice(u, r, d)
		}
	}()
	ok, err := s.hashes.Verify(ctx, u.PasswordHash, body.Current)
	switch {
	case errors.Is(err, password.ErrBusy):
		oauth.WriteError(w, s.log, hashingBusy())
		return
	case err != nil && ctx.Err() != nil:
		return
	case err != nil || !ok:
		res = checkWrong
		oauth.WriteError(w, s.log, oauth.New(oauth.Forbidden, "the current password is wrong").WithStatus(http.StatusForbidden))
		return
	}
	res = checkRight
	if _, err := s.updateUser(ctx, u.ID, admin.UserChange{Password: &body.New}, pt.token.SessionID); err != nil {
		if errors.Is(err, password.ErrBusy) {
			oauth.WriteError(w, s.log, hashingBusy())
			return
		}
		oauth.WriteError(w, s.log, s.mapErr(err))
		return
	}
	oauth.WriteJSON(w, http.StatusOK, map[string]string{"status": "password_changed"})
}

// hashingBusy answers a request whose argon2id work found the gate full:
// 503 with Retry-After, as the sign-in page does; nothing was changed.
func hashingBusy() error {
	e := oauth.New(oauth.TemporarilyUnavail, "the service is busy; try again in a moment").WithStatus(http.StatusServiceUnavailable)
	e.RetryAfter = 1
	return e
}

// errDisabled is why a disabled (or deleted) user gets no token: the
// grant it would come from is no longer valid (RFC 6749 §5.2 invalid_grant).
var errDisabled = errors.New("the account is disabled or no longer exists")

// activeUser returns the user if it exists and is not disabled; a store
// failure is returned as is, anything else is errDisabled.
func activeUser(ctx context.Context, st storage.Store, id string) (*storage.User, error) {
	u, err := st.User(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && u.Disabled {
		return nil, errDisabled
	}
	return u, err
}
