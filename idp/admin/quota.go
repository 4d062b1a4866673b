package admin

import (
	"errors"
	"math"
	"net/http"

	"github.com/qrlogin/qrlogin/idp/oauth"
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

// checkSigningAlg validates a client's ID token algorithm: "" (the
// server's default) or one the provider signs with (oauth.SigningAlgs).
func checkSigningAlg(alg string) error {
	if alg != "" && !oauth.ValidSigningAlg(alg) {
		return badMetadata("id_token_signed_response_alg must be RS256, ES256 or EdDSA")
	}
	return nil
}

// checkProximityPolicy validates a client's proximity policy (RFC 10027
// §6.1.1; idp/proximity.go): off, warn or require.
func checkProximityPolicy(p string) error {
	switch p {
	case storage.ProximityOff, storage.ProximityWarn, storage.ProximityRequire:
		return nil
	}
	return badMetadata("proximity_policy must be off, warn or require")
}

// clientPatch is the body of PATCH /admin/v1/clients/{id} (RFC 7396 merge
// patch): the fields that may change after registration, the quota, the
// ID token algorithm ("" goes back to the server's default), the
// proximity policy (read at each decision, so QR logins already waiting
// follow it) and the defences against QR relay (QR logins already started
// keep theirs).
type clientPatch struct {
	RateLimit                *float64 `json:"rate_limit"`
	IDTokenSignedResponseAlg *string  `json:"id_token_signed_response_alg"`
	ProximityPolicy          *string  `json:"proximity_policy"`
	QRNumberMatching         *bool    `json:"qr_number_matching"`
	QRSession                *string  `json:"qr_session"`
	QRSecondScan             *string  `json:"qr_second_scan"`
	DPoPBoundAccessTokens    *bool    `json:"dpop_bound_access_tokens"`
}

// patchClient changes a client's quota, ID token algorithm, proximity
// policy or QR defences. Instances see it within their client cache's lifetime (5 s
// by default). Everything is checked before anything is written.
func (a *api) patchClient(w http.ResponseWriter, r *http.Request) {
	var p clientPatch
	if !decodeJSON(w, r, &p) {
		return
	}
	defences := p.QRNumberMatching != nil || p.QRSession != nil || p.QRSecondScan != nil
	update := p.RateLimit != nil || p.IDTokenSignedResponseAlg != nil || p.ProximityPolicy != nil || p.DPoPBoundAccessTokens != nil
	if !update && !defences {
		writeError(w, http.StatusBadRequest, "invalid_client_metadata",
			"nothing to change: send rate_limit, id_token_signed_response_alg, proximity_policy, dpop_bound_access_tokens, qr_number_matching, qr_session or qr_second_scan")
		return
	}
	c, ok := a.loadClient(w, r)
	if !ok {
		return
	}
	bad := func(err error) {
		var me *metadataError
		errors.As(err, &me)
		writeError(w, http.StatusBadRequest, me.code, me.desc)
	}
	if p.RateLimit != nil {
		if err := checkRateLimit(c.Type, *p.RateLimit); err != nil {
			bad(err)
			return
		}
	}
	if p.IDTokenSignedResponseAlg != nil {
		if err := checkSigningAlg(*p.IDTokenSignedResponseAlg); err != nil {
			bad(err)
			return
		}
	}
	if p.ProximityPolicy != nil {
		if err := checkProximityPolicy(*p.ProximityPolicy); err != nil {
			bad(err)
			return
		}
	}
	next := *c
	if p.QRNumberMatching != nil {
		next.QRNumberMatching = *p.QRNumberMatching
	}
	if p.QRSession != nil {
		next.QRSession = *p.QRSession
	}
	if p.QRSecondScan != nil {
		next.QRSecondScan = *p.QRSecondScan
	}
	if err := checkQRDefences(&next); err != nil {
		bad(err)
		return
	}
	var err error
	if update {
		var updated *storage.Client
		updated, err = a.store.UpdateClient(r.Context(), c.ID, storage.ClientUpdate{RateLimit: p.RateLimit,
			IDTokenSignedResponseAlg: p.IDTokenSignedResponseAlg, ProximityPolicy: p.ProximityPolicy,
			DPoPBoundAccessTokens: p.DPoPBoundAccessTokens})
		if err == nil {
			next.RateLimit, next.IDTokenSignedResponseAlg, next.ProximityPolicy, next.DPoPBoundAccessTokens =
				updated.RateLimit, updated.IDTokenSignedResponseAlg, updated.ProximityPolicy, updated.DPoPBoundAccessTokens
		}
	}
	if err == nil && defences {
		err = a.store.SetClientQRDefences(r.Context(), c.ID, &next)
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such client")
		return
	case err != nil:
		a.storageError(w, r, err)
		return
	}
	a.log.InfoContext(r.Context(), "admin: client updated", "client_id", c.ID, "rate_limit", next.RateLimit,
		"id_token_signed_response_alg", next.IDTokenSignedResponseAlg, "proximity_policy", storage.ProximityPolicyOf(&next),
		"qr_number_matching", next.QRNumberMatching, "qr_session", next.QRSession, "qr_second_scan", next.QRSecondScan,
		"dpop_bound_access_tokens", next.DPoPBoundAccessTokens, "admin", actor(r.Context()))
	writeJSON(w, http.StatusOK, toClientJSON(&next, ""))
}
