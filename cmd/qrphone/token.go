package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/oauth2"
)

// storedToken is the token file's content.
type storedToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	// Issuer is the provider the tokens belong to: they are never sent to
	// another one.
	Issuer string `json:"issuer"`
}

// errNotLoggedIn is returned when there is no usable token.
var errNotLoggedIn = errors.New("not signed in: run qrphone login")

// loadToken reads the token file. A missing file is errNotLoggedIn; a file
// others can read is used, with a warning, since it may be too late.
func loadToken(path string) (*storedToken, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, errNotLoggedIn
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the token file: %w", err)
	}
	var t storedToken
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return nil, false, fmt.Errorf("the token file %s is damaged: run qrphone login", path)
	}
	loose := false
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		loose = true
	}
	return &t, loose, nil
}

// saveToken writes the token file atomically (a temporary file in the same
// directory, then rename), so a crash never leaves half a file and a
// reader never sees one. The file is 0600 and its directory 0700: the
// refresh token is a long-lived credential.
func saveToken(path string, t *storedToken) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the token directory: %w", err)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*.json")
	if err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after a successful rename
	// CreateTemp already uses 0600; Chmod states the rule and survives a
	// different umask or platform default.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("saving the token: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("saving the token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("saving the token: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving the token: %w", err)
	}
	return nil
}

// session is a signed-in phone app: the token file and the means to
// refresh it.
type session struct {
	env  *environment
	g    *globals
	tok  *storedToken
	conf *oauth2.Config // built on first refresh, from discovery
}

// openSession loads the token file for g's issuer.
func openSession(e *environment, g *globals) (*session, error) {
	t, loose, err := loadToken(g.tokenFile)
	if err != nil {
		return nil, err
	}
	if loose {
		fmt.Fprintf(e.stderr, "warning: %s can be read by other users; chmod 600 it (and consider qrphone login again)\n", g.tokenFile)
	}
	if t.Issuer != g.issuer {
		// A bearer token is a password for whoever receives it: never hand
		// one provider's token to another.
		return nil, fmt.Errorf("the token file is for %s, not %s: run qrphone login --issuer %s", t.Issuer, g.issuer, g.issuer)
	}
	return &session{env: e, g: g, tok: t}, nil
}

// expiryDelta is how long before its expiry an access token is refreshed,
// as x/oauth2 does, so it does not expire in flight.
const expiryDelta = 10 * time.Second

// accessToken returns a live access token, refreshing it first when it has
// expired or when force is set (the provider rejected it).
func (s *session) accessToken(ctx context.Context, force bool) (string, error) {
	if !force && (s.tok.Expiry.IsZero() || s.env.now().Add(expiryDelta).Before(s.tok.Expiry)) {
		return s.tok.AccessToken, nil
	}
	if s.tok.RefreshToken == "" {
		return "", errors.New("the session has expired and there is no refresh token: run qrphone login")
	}
	if s.conf == nil {
		conf, err := oauthConfig(ctx, s.env, s.g, "")
		if err != nil {
			return "", err
		}
		s.conf = conf
	}
	// An already expired token makes x/oauth2 refresh at once.
	old := &oauth2.Token{RefreshToken: s.tok.RefreshToken, Expiry: time.Unix(1, 0)}
	nt, err := s.conf.TokenSource(clientContext(ctx, s.env), old).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return "", errors.New("the session has ended (refresh token expired or revoked): run qrphone login")
		}
		return "", fmt.Errorf("refreshing the access token: %w", err)
	}
	s.tok = fromOAuth2(nt, s.g.issuer, s.tok.RefreshToken)
	// RFC 9700 §4.14.2: the old refresh token is now spent; losing the new
	// one would end the session, so it is saved before it is used.
	if err := saveToken(s.g.tokenFile, s.tok); err != nil {
		return "", err
	}
	return s.tok.AccessToken, nil
}

// fromOAuth2 converts a token response. A response without a refresh token
// keeps the previous one (RFC 6749 §6 lets the server not rotate).
func fromOAuth2(t *oauth2.Token, issuer, prevRefresh string) *storedToken {
	st := &storedToken{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry.UTC(), Issuer: issuer}
	if st.RefreshToken == "" {
		st.RefreshToken = prevRefresh
	}
	return st
}

// clientContext makes x/oauth2 use the environment's HTTP client.
func clientContext(ctx context.Context, e *environment) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, e.httpClient)
}

// checkIssuer accepts an absolute http(s) URL without query or fragment
// (OpenID Connect Discovery 1.0 §3: the issuer is such a URL).
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) URL without query or fragment", s)
	}
	return nil
}
