package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

const (
	maxUsernameLen    = 64
	maxEmailLen       = 254 // RFC 5321 §4.5.3.1.3 path limit, less the brackets
	maxDisplayNameLen = 200
)

// userRequest is the body of POST /admin/v1/users.
type userRequest struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// userJSON is a user as the API shows it: never the password or its hash.
type userJSON struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Name          string    `json:"name,omitempty"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
}

func toUserJSON(u *storage.User) userJSON {
	return userJSON{
		ID:            u.ID,
		Username:      u.Username,
		Name:          u.Name,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Disabled:      u.Disabled,
		CreatedAt:     u.CreatedAt,
	}
}

// checkUser validates a user request; the description is safe to show
// and never contains the password.
func checkUser(req *userRequest) error {
	if err := checkText("username", req.Username, maxUsernameLen); err != nil {
		return err
	}
	// "alice" and "alice " would look the same on every screen.
	if strings.TrimFunc(req.Username, unicode.IsSpace) != req.Username {
		return errors.New("username must not begin or end with whitespace")
	}
	if err := password.CheckPolicy(req.Password); err != nil {
		return err
	}
	if req.Name != "" {
		if err := checkText("name", req.Name, maxDisplayNameLen); err != nil {
			return err
		}
	}
	if req.Email != "" {
		if err := checkEmail(req.Email); err != nil {
			return err
		}
	} else if req.EmailVerified {
		return errors.New("email_verified needs an email")
	}
	return nil
}

// checkEmail accepts a bare addr-spec (RFC 5322 §3.4.1), not a display
// name with an address ("Alice <a@example.com>").
func checkEmail(s string) error {
	if len(s) > maxEmailLen {
		return fmt.Errorf("email is longer than %d bytes", maxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return errors.New("email must be a plain address such as alice@example.com")
	}
	return nil
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if err := checkUser(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	hash, err := password.Hash(req.Password)
	if err != nil {
		a.log.ErrorContext(r.Context(), "admin: password hash failed", "err", err)
		writeError(w, http.StatusInternalServerError, "server_error", "internal error")
		return
	}
	u := &storage.User{
		ID:            storage.NewSecret(16),
		Username:      req.Username,
		PasswordHash:  hash,
		Name:          req.Name,
		Email:         req.Email,
		EmailVerified: req.EmailVerified,
		CreatedAt:     a.now().UTC(),
	}
	switch err := a.store.CreateUser(r.Context(), u); {
	case errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "the username is taken")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: user created", "user_id", u.ID, "admin", actor(r.Context()))
	writeJSON(w, http.StatusCreated, toUserJSON(u))
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.store.ListUsers(r.Context())
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUserJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (a *api) deleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	switch err := a.store.DeleteUser(r.Context(), id); {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such user")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	// A deleted user's tokens die with the account: the phone app's token
	// must not keep approving QR logins.
	clients, err := a.store.ListClients(r.Context())
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	for _, c := range clients {
		if err := a.store.RevokeUserClientSessions(r.Context(), id, c.ID); err != nil {
			a.storageError(w, r, err)
			return
		}
	}
	a.log.InfoContext(r.Context(), "admin: user deleted", "user_id", id, "admin", actor(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}

// UserManager changes accounts by the OP's rules (idp.Server.Users): a new
// password is hashed behind the OP's bound on concurrent argon2id, and a
// password change or a disable ends the user's sign-ins.
type UserManager interface {
	// UpdateUser applies ch to user id; storage.ErrNotFound if absent.
	UpdateUser(ctx context.Context, id string, ch UserChange) (*storage.User, error)
}

// UserChange is a change to an account, already validated; nil fields
// stay as they are.
type UserChange struct {
	Name          *string
	Email         *string
	EmailVerified *bool
	Password      *string
	Disabled      *bool
}

// userPatch is the body of PATCH /admin/v1/users/{id}: the fields to
// change, each optional (RFC 5789: a partial update). Unknown fields are
// refused, so a typo never passes for a change.
type userPatch struct {
	Name          *string `json:"name"`
	Email         *string `json:"email"`
	EmailVerified *bool   `json:"email_verified"`
	Password      *string `json:"password"`
	Disabled      *bool   `json:"disabled"`
}

// check validates p as checkUser does for creation; "" clears name or
// email. A new email is unverified unless email_verified says otherwise.
func (p *userPatch) check() error {
	if p.Name == nil && p.Email == nil && p.EmailVerified == nil && p.Password == nil && p.Disabled == nil {
		return errors.New("nothing to change: give name, email, email_verified, password or disabled")
	}
	if p.Name != nil && *p.Name != "" {
		if err := checkText("name", *p.Name, maxDisplayNameLen); err != nil {
			return err
		}
	}
	if p.Email != nil {
		if *p.Email != "" {
			if err := checkEmail(*p.Email); err != nil {
				return err
			}
		}
		if p.EmailVerified == nil {
			p.EmailVerified = new(bool)
		}
		if *p.Email == "" && *p.EmailVerified {
			return errors.New("email_verified needs an email")
		}
	}
	if p.Password != nil {
		if err := password.CheckPolicy(*p.Password); err != nil {
			return err
		}
	}
	return nil
}

// updateUser is PATCH /admin/v1/users/{id}. A new password or
// "disabled": true ends the user's browser sessions, voids their pending
// QR tickets and revokes every token family (idp's rule, through Users).
func (a *api) updateUser(w http.ResponseWriter, r *http.Request) {
	if a.users == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "user updates are not available on this listener")
		return
	}
	var p userPatch
	if !decodeJSON(w, r, &p) {
		return
	}
	if err := p.check(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id := r.PathValue("id")
	u, err := a.users.UpdateUser(r.Context(), id, UserChange(p))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such user")
		return
	case errors.Is(err, password.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "too many password hashes in progress, try again")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: user updated", "user_id", u.ID, "password_changed", p.Password != nil,
		"disabled", u.Disabled, "admin", actor(r.Context()))
	writeJSON(w, http.StatusOK, toUserJSON(u))
}
