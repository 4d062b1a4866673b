package idp

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/qrlogin/qrlogin/storage"
)

// Cross-origin requests (the Fetch standard's CORS protocol): which
// endpoints a script on another site may call, and from where.
//
// zitadel reflected any Origin, with Access-Control-Allow-Credentials:
// true, on every endpoint, and let every preflight succeed — also for
// /qr/confirm (RFC 9700 §2.6 warns against exactly that). qrlogin's rule:
//   - only the endpoints a browser-based client needs are open (corsMethods),
//     each for its own methods;
//   - only for origins registered on a client (Client.AllowedOrigins);
//   - never with Access-Control-Allow-Credentials: these endpoints take a
//     token or client credentials in the request, never a cookie;
//   - everything else (the hosted pages, the phone and account APIs,
//     /qr/authorize, introspection, /authorize) answers no CORS header,
//     and its preflights fail.

// corsMethods lists the browser endpoints and the methods a script may use
// on each: what a single-page app needs to sign in (token), read the user
// (/userinfo), verify tokens (keys, metadata) and sign out (revocation).
// Introspection is not listed: it is for resource servers, which hold a
// client secret no browser may.
var corsMethods = map[string]string{
	"/" + pathToken:                           http.MethodPost,
	"/" + pathUserinfo:                        "GET, POST",
	"/" + pathKeys:                            http.MethodGet,
	"/" + pathRevoke:                          http.MethodPost,
	oidc.DiscoveryEndpoint:                    http.MethodGet,
	"/.well-known/oauth-authorization-server": http.MethodGet,
}

// corsMaxAge is how long a browser may cache a successful preflight.
const corsMaxAge = "600"

// cors applies the rule above to r. It answers preflights itself and
// reports whether it did; for other requests it only adds headers.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) (answered bool) {
	methods, open := corsMethods[r.URL.Path]
	h := w.Header()
	if open {
		h.Add("Vary", "Origin") // the answer depends on it (Fetch §3.2.5)
	}
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		return false // not a cross-origin request from a browser
	}
	allowed := false
	if open {
		ok, err := s.origins.allowed(r.Context(), origin)
		if err != nil && preflight {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		allowed = ok
	}
	if !preflight {
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			// A script must see why a token was refused (RFC 6750 §3).
			h.Set("Access-Control-Expose-Headers", "WWW-Authenticate, Retry-After")
		}
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	if !allowed || !listed(methods, r.Header.Get("Access-Control-Request-Method")) {
		w.WriteHeader(http.StatusForbidden) // no Access-Control-Allow-Origin: the preflight fails
		return true
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

func listed(methods, m string) bool {
	for _, v := range strings.Split(methods, ", ") {
		if v == m {
			return true
		}
	}
	return false
}

// originSet answers whether an origin is registered on any client. It keeps
// the set for ttl (the client cache's), so a CORS check costs no store
// round trip; a newly registered origin works on every instance within it.
type originSet struct {
	store storage.ClientStore
	ttl   time.Duration
	now   func() time.Time

	mu  sync.Mutex
	set map[string]bool
	at  time.Time
}

func newOriginSet(store storage.ClientStore, ttl time.Duration, now func() time.Time) *originSet {
	return &originSet{store: store, ttl: ttl, now: now}
}

func (o *originSet) allowed(ctx context.Context, origin string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now := o.now(); o.set == nil || now.Sub(o.at) >= o.ttl {
		clients, err := o.store.ListClients(ctx)
		if err != nil {
			return false, err
		}
		set := map[string]bool{}
		for _, c := range clients {
			for _, a := range c.AllowedOrigins {
				set[a] = true
			}
		}
		o.set, o.at = set, now
	}
	return o.set[origin], nil
}
