package load

import (
	"context"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
)

// idTokenChecker verifies ID tokens as a relying party does (OIDC Core
// §3.1.3.7): the signature against the issuer's published keys (fetched
// once, refetched by go-oidc when a kid is unknown), iss, aud = the
// client, exp. It runs on a sample of logins: a signature check costs
// the generator 30–150 µs (RS256 / ES256), more than the rest of the
// login's checks, on the cores the server needs.
type idTokenChecker struct {
	v *oidc.IDTokenVerifier
}

// newIDTokenChecker reads the issuer's discovery document through hc.
// go-oidc refuses a document whose issuer is not the one asked for
// (OIDC Discovery §4.3).
func newIDTokenChecker(ctx context.Context, issuer, clientID string, hc *http.Client) (*idTokenChecker, error) {
	ctx = oidc.ClientContext(ctx, hc)
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("reading the issuer's discovery document to verify ID tokens: %w", err)
	}
	// The key set's requests use this context's client; its cancellation
	// is ignored (go-oidc).
	return &idTokenChecker{v: p.VerifierContext(ctx, &oidc.Config{ClientID: clientID})}, nil
}

func (c *idTokenChecker) check(ctx context.Context, raw string) error {
	_, err := c.v.Verify(ctx, raw)
	return err
}
