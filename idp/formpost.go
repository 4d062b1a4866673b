package idp

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// formPostParam is one hidden field of a form_post page.
type formPostParam struct{ Name, Value string }

// formPost answers with a page that posts params to redirectURI (OAuth 2.0
// Form Post Response Mode §2): hidden fields, submitted by a same-origin
// script (the CSP forbids inline ones — zitadel's page relies on an
// onload handler, and its template drops error fields), with a button for
// browsers without JavaScript. redirectURI must be one registered on the
// client; it is trusted as such.
func (s *Server) formPost(w http.ResponseWriter, redirectURI string, params url.Values) {
	data := struct {
		Title       string
		RedirectURI template.URL
		Params      []formPostParam
	}{Title: "Continue", RedirectURI: template.URL(redirectURI)}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		for _, v := range params[k] {
			data.Params = append(data.Params, formPostParam{Name: k, Value: v})
		}
	}
	s.render(w, http.StatusOK, "form_post.html", data)
}

// authResponse issues the code of a finished authorization request (for
// handleAuthorizeCallback) and sends it as its response_mode says: a
// redirect (query, fragment), or formPost's page. zitadel's form_post page
// submits itself from an inline onload handler, which the site's CSP
// (script-src 'self') blocks: the browser stalled on a page holding the
// code.
func (s *Server) authResponse(w http.ResponseWriter, r *http.Request, authReq op.AuthRequest) {
	if authReq.GetResponseMode() != oidc.ResponseModeFormPost {
		op.AuthResponse(authReq, s.provider, w, r)
		return
	}
	code, err := op.BuildAuthResponseCodeResponsePayload(r.Context(), authReq, s.provider)
	if err != nil {
		op.AuthRequestError(w, r, authReq, err, s.provider)
		return
	}
	params := url.Values{"code": {code.Code}}
	if code.State != "" {
		params.Set("state", code.State)
	}
	s.formPost(w, authReq.GetRedirectURI(), params)
}
