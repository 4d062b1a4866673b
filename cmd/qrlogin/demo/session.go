package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

const (
	cookieName = "qrdemo"
	// sessionTTL bounds how long a demo session lives without use.
	sessionTTL = 8 * time.Hour
	// maxSessions caps the memory a flood of cookie-less visitors can take.
	maxSessions = 10000
	// codeTTL bounds how long a started code flow may take to come back.
	codeTTL = 10 * time.Minute
)

var errTooManySessions = errors.New("too many demo sessions")

// session is one visitor's state. id and csrf never change; expires is
// guarded by the store's mutex, the rest by mu. Lock order: a session's mu
// before the store's mutex (renew runs under mu), never the reverse.
type session struct {
	id      string
	csrf    string // synchronizer token for the demo's POST forms (OWASP CSRF cheat sheet)
	expires time.Time

	mu    sync.Mutex
	user  *Claims
	flash string
	qr    *pendingQR
	code  *pendingCode
}

// pendingQR is a QR login the visitor's browser waits on. deviceCode is
// the poll secret (SPEC §1): it lives only here.
type pendingQR struct {
	deviceCode string
	nonce      string
	userCode   string
	image      string // data:image/png;base64,… as the provider returned it
	expiresAt  time.Time
	interval   time.Duration
	nextPoll   time.Time // RFC 8628 §3.5: not before, after a slow_down
	status     string    // last status relayed to the browser
	// poll serialises polls of this login: two tabs or a reload must not
	// poll the provider at once (that earns slow_down, RFC 8628 §3.5).
	poll chan struct{}
}

// pendingCode is a started authorization code flow.
type pendingCode struct {
	state, nonce, verifier string
	expiresAt              time.Time
}

// sessions is the server-side session store with a signed and encrypted
// cookie carrying the session id.
type sessions struct {
	codec  *securecookie.SecureCookie
	secure bool   // Secure cookie attribute: the demo is served over https
	path   string // cookie path: the demo's prefix, "/demo" (RFC 6265 §5.1.4: matches /demo and /demo/…)
	now    func() time.Time

	mu sync.Mutex
	m  map[string]*session
}

func newSessions(secure bool, path string, now func() time.Time) *sessions {
	// Keys made at start: sessions do not survive a restart, which is what
	// a demo on an in-memory store wants anyway.
	codec := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32))
	codec.MaxAge(int(sessionTTL / time.Second))
	return &sessions{codec: codec, secure: secure, path: path, now: now, m: map[string]*session{}}
}

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms (Go 1.24+)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns the session the request's cookie names, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	var id string
	if err := s.codec.Decode(cookieName, c.Value, &id); err != nil {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.m[id]
	if sess == nil {
		return nil
	}
	if now.After(sess.expires) {
		delete(s.m, id)
		return nil
	}
	sess.expires = now.Add(sessionTTL)
	return sess
}

// getOrCreate returns the request's session, making a new one (and setting
// its cookie) when there is none.
func (s *sessions) getOrCreate(w http.ResponseWriter, r *http.Request) (*session, error) {
	if sess := s.get(r); sess != nil {
		return sess, nil
	}
	return s.create(w)
}

func (s *sessions) create(w http.ResponseWriter) (*session, error) {
	now := s.now()
	sess := &session{id: randomString(32), csrf: randomString(32), expires: now.Add(sessionTTL)}
	s.mu.Lock()
	if len(s.m) >= maxSessions {
		s.sweepLocked(now)
	}
	if len(s.m) >= maxSessions {
		s.mu.Unlock()
		return nil, errTooManySessions
	}
	s.m[sess.id] = sess
	s.mu.Unlock()
	if err := s.setCookie(w, sess.id); err != nil {
		s.drop(sess)
		return nil, err
	}
	return sess, nil
}

// renew moves old's contents to a new id and CSRF token and drops old: a
// sign-in must not keep a session id that existed before it (session
// fixation, OWASP ASVS V3.2.1). The caller holds old.mu.
func (s *sessions) renew(w http.ResponseWriter, old *session) (*session, error) {
	sess, err := s.create(w)
	if err != nil {
		return nil, err
	}
	// sess is not yet known to any other request: no lock needed to fill it.
	sess.user, sess.flash = old.user, old.flash
	s.mu.Lock()
	delete(s.m, old.id)
	s.mu.Unlock()
	old.user, old.qr, old.code = nil, nil, nil
	return sess, nil
}

// drop forgets a session.
func (s *sessions) drop(sess *session) {
	s.mu.Lock()
	delete(s.m, sess.id)
	s.mu.Unlock()
}

func (s *sessions) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: s.path, MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

func (s *sessions) setCookie(w http.ResponseWriter, id string) error {
	v, err := s.codec.Encode(cookieName, id)
	if err != nil {
		return err
	}
	// SameSite=Lax, not Strict: the provider's redirect back to /callback
	// is a cross-site top-level navigation that must carry the cookie.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v, Path: s.path, MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// sweepLocked removes expired sessions. The caller holds s.mu.
func (s *sessions) sweepLocked(now time.Time) {
	for id, sess := range s.m {
		if now.After(sess.expires) {
			delete(s.m, id)
		}
	}
}

// checkCSRF compares the form's token with the session's in constant time.
func (sess *session) checkCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(sess.csrf)) == 1
}
