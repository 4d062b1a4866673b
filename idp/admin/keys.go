package admin

import (
	"errors"
	"net/http"
)

func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) {
	if a.keys == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "key management is not configured on this server")
		return
	}
	ks, err := a.keys.Rotate(r.Context(), r.URL.Query().Get("alg"))
	if errors.Is(err, ErrUnknownAlg) {
		writeError(w, http.StatusBadRequest, "invalid_request", "alg must be RS256, ES256 or EdDSA (or absent: every algorithm)")
		return
	}
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	for _, k := range ks {
		a.log.InfoContext(r.Context(), "admin: signing key rotated", "kid", k.ID, "alg", k.Algorithm, "admin", actor(r.Context()))
	}
	writeJSON(w, http.StatusCreated, map[string]any{"keys": ks})
}

// ErrUnknownAlg is Keys.Rotate's answer for an algorithm it does not sign
// with.
var ErrUnknownAlg = errors.New("admin: unknown signing algorithm")

func (a *api) listKeys(w http.ResponseWriter, r *http.Request) {
	if a.keys == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "key management is not configured on this server")
		return
	}
	ks, err := a.keys.List(r.Context())
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	if ks == nil {
		ks = []KeyInfo{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": ks})
}
