package idp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// Errors at /authorize, the RFC way (RFC 6749 §4.1.2.1, OIDC Core
// §3.1.2.6). Until client_id and redirect_uri are verified, an HTML 400
// page and never a redirect (nor a 500); after that, every error goes back
// to the redirect URI with error, error_description and state, in the
// query, the fragment or a form_post page as the request's response mode
// says.
func TestAuthorizeErrors(t *testing.T) {
	s := newServer(t)
	b := newBrowser(t, s)

	t.Run("no verified redirect URI: an HTML 400 page, never a redirect", func(t *testing.T) {
		for name, u := range map[string]string{
			"unknown client_id": newAuthz(s, rpID).url(param("client_id", "nobody")),
			"missing client_id": newAuthz(s, rpID).url(param("client_id", "")),
			"missing redirect_uri (was a 500)": func() string {
				a := newAuthz(s, rpID)
				a.cfg.RedirectURL = ""
				return a.url()
			}(),
			"unregistered redirect_uri":                 newAuthz(s, rpID).url(param("redirect_uri", "https://evil.example/cb")),
			"another client's redirect_uri":             newAuthz(s, rpID).url(param("redirect_uri", "https://other.example/cb")),
			"a redirect_uri extending a registered one": newAuthz(s, rpID).url(param("redirect_uri", "https://shop.example/cb?x=1")),
		} {
			resp, page := b.get(u)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || resp.Request.URL.Path != "/authorize" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "Nothing was sent back") {
				t.Errorf("%s: %d %s at %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Request.URL)
			}
		}
	})

	t.Run("after it, every error goes back to the client with its state", func(t *testing.T) {
		for _, c := range []struct {
			name     string
			opts     []oauth2.AuthCodeOption
			code     string
			fragment bool
		}{
			{"response_type=token (implicit is not supported)", []oauth2.AuthCodeOption{param("response_type", "token")}, "unsupported_response_type", true},
			{"response_type=id_token", []oauth2.AuthCodeOption{param("response_type", "id_token")}, "unsupported_response_type", true},
			{"response_type=code id_token (hybrid)", []oauth2.AuthCodeOption{param("response_type", "code id_token")}, "unsupported_response_type", true},
			{"response_type=token with response_mode=query", []oauth2.AuthCodeOption{param("response_type", "token"), param("response_mode", "query")}, "unsupported_response_type", false},
			{"no response_type", []oauth2.AuthCodeOption{param("response_type", "")}, "invalid_request", false},
			{"a request object", []oauth2.AuthCodeOption{param("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.")}, "request_not_supported", false},
			{"a request_uri (was ignored and the flow completed)", []oauth2.AuthCodeOption{param("request_uri", "https://shop.example/request.jwt")}, "request_uri_not_supported", false},
			{"prompt none with login", []oauth2.AuthCodeOption{param("prompt", "none login")}, "invalid_request", false},
			{"a max_age that is no number", []oauth2.AuthCodeOption{param("max_age", "soon")}, "invalid_request", false},
			{"a PKCE method other than S256", []oauth2.AuthCodeOption{param("code_challenge_method", "plain")}, "invalid_request", false},
		} {
			a := newAuthz(s, rpID)
			resp, _ := b.get(a.url(c.opts...))
			if resp.StatusCode != http.StatusFound {
				t.Errorf("%s: %d at %s, want a redirect to the client", c.name, resp.StatusCode, resp.Request.URL)
				continue
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc.Host != "shop.example" || loc.Path != "/cb" || (loc.Fragment != "") != c.fragment {
				t.Errorf("%s: redirected to %s (want the answer in the %s)", c.name, loc, map[bool]string{true: "fragment", false: "query"}[c.fragment])
				continue
			}
			v := clientAnswer(t, resp)
			if v.Get("error") != c.code || v.Get("state") != a.state || v.Get("error_description") == "" || v.Has("code") {
				t.Errorf("%s: %v, want error %s with the state", c.name, v, c.code)
			}
		}
	})

	t.Run("response_mode=form_post: the error is posted to the client", func(t *testing.T) {
		a := newAuthz(s, rpID)
		resp, page := b.get(a.url(param("response_mode", "form_post"), param("request_uri", "https://shop.example/r")))
		if resp.StatusCode != 200 || !strings.Contains(page, `<form method="post" action="https://shop.example/cb"`) ||
			!strings.Contains(page, `name="error" value="request_uri_not_supported"`) || !strings.Contains(page, `name="state" value="`+a.state+`"`) ||
			strings.Contains(page, "onload") {
			t.Fatalf("form_post error page: %d\n%s", resp.StatusCode, page)
		}
	})
}
