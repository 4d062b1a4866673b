package admin

import (
	"net/http"
)

func (a *api) rotateKey(w http.ResponseWriter, r *http.Request) {
	if a.keys == nil {
		writeError(w, http.StatusNotImplemented, "not_implemented", "key management is not configured on this server")
		return
	}
	k, err := a.keys.Rotate(r.Context())
	if err != nil {
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: signing key rotated", "kid", k.ID, "alg", k.Algorithm, "admin", actor(r.Context()))
	writeJSON(w, http.StatusCreated, k)
}

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
