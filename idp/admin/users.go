package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

const (
	maxUsernameLen    = 64
	minPasswordLen    = 8   // NIST SP 800-63B §3.1.1.2
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
	CreatedAt     time.Time `json:"created_at"`
}

func toUserJSON(u *storage.User) userJSON {
	return userJSON{
		ID:            u.ID,
		Username:      u.Username,
		Name:          u.Name,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
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
	// The sign-in form refuses longer passwords before hashing them
	// (password.MaxLength, in bytes): such a user could never sign in.
	switch n := utf8.RuneCountInString(req.Password); {
	case n < minPasswordLen:
		return fmt.Errorf("password must be at least %d characters", minPasswordLen)
	case len(req.Password) > password.MaxLength:
		return fmt.Errorf("password must be at most %d bytes", password.MaxLength)
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
