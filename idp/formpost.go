package idp

import (
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
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
