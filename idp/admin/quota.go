package admin

import (
	"errors"
	"math"
	"net/http"

	"github.com/qrlogin/qrlogin/storage"
)

// maxRateLimit bounds a client's quota (requests per second at
// /qr/authorize); beyond it a quota means nothing on one instance.
const maxRateLimit = 1e6

// checkRateLimit validates a client's quota: 0 (the server's default,
// serve --client-rate-limit) or a positive number of requests per second,
// for confidential clients only. A public client has no secret, so anyone
// can spend a quota of its: it is limited per address instead.
func checkRateLimit(t storage.ClientType, perSecond float64) error {
	switch {
	case perSecond == 0:
		return nil
	case math.IsNaN(perSecond) || perSecond < 0 || perSecond > maxRateLimit:
		return badMetadata("rate_limit must be a number of requests per second from 0 (the server's default) to %g", maxRateLimit)
	case t != storage.ClientConfidential:
		return badMetadata("rate_limit is for confidential clients; public clients are limited per address")
	}
	return nil
}

// clientPatch is the body of PATCH /admin/v1/clients/{id} (RFC 7396 merge
// patch): the fields that may change after registration. Today that is
// the quota alone.
type clientPatch struct {
	RateLimit *float64 `json:"rate_limit"`
}

// patchClient changes a client's quota. Instances see it within their
// client cache's lifetime (5 s by default).
func (a *api) patchClient(w http.ResponseWriter, r *http.Request) {
	var p clientPatch
	if !decodeJSON(w, r, &p) {
		return
	}
	if p.RateLimit == nil {
		writeError(w, http.StatusBadRequest, "invalid_client_metadata", "nothing to change: send rate_limit")
		return
	}
	c, ok := a.loadClient(w, r)
	if !ok {
		return
	}
	if err := checkRateLimit(c.Type, *p.RateLimit); err != nil {
		var me *metadataError
		errors.As(err, &me)
		writeError(w, http.StatusBadRequest, me.code, me.desc)
		return
	}
	switch err := a.store.SetClientRateLimit(r.Context(), c.ID, *p.RateLimit); {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such client")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	c.RateLimit = *p.RateLimit
	a.log.InfoContext(r.Context(), "admin: client rate limit set", "client_id", c.ID, "rate_limit", c.RateLimit, "admin", actor(r.Context()))
	writeJSON(w, http.StatusOK, toClientJSON(c, ""))
}
