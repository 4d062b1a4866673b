package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/admin"
	"github.com/qrlogin/qrlogin/idp/oauth"
	"github.com/qrlogin/qrlogin/storage"
)

// KeyStatus is where a signing key is in its life.
const (
	KeyNext     = "next"     // published in /keys, not signing yet
	KeyActive   = "active"   // signing
	KeyRetiring = "retiring" // published so tokens it signed still verify
	KeyRetired  = "retired"  // no longer published; deleted by cleanup
)

// KeyInfo describes a signing key for the admin API.
type KeyInfo = admin.KeyInfo

// SigningAlgs are oauth.SigningAlgs as jose names them: each has its own
// keys, all published in /keys.
var SigningAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(oauth.SigningAlgs))
	for i, a := range oauth.SigningAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// ValidSigningAlg reports whether alg is one of SigningAlgs.
func ValidSigningAlg(alg string) bool { return oauth.ValidSigningAlg(alg) }

// Keys manages signing keys: it creates the first of each algorithm,
// rotates, and gives zitadel the signer of the client at hand and the
// published set.
//
// Rotation: a new key is published at once and starts signing PublishDelay
// later, so relying parties that cache /keys have seen it before the first
// token it signs; the key it replaces stays published for MaxTokenTTL after
// that, until every token it signed has expired.
type Keys struct {
	store storage.KeyStore
	// alg signs for clients that registered none (Config.SigningAlg).
	alg          jose.SignatureAlgorithm
	publishDelay time.Duration
	maxTokenTTL  time.Duration
	refresh      time.Duration
	now          func() time.Time
	log          *slog.Logger

	mu       sync.Mutex
	loadedAt time.Time
	keys     []*signingKey // oldest first
}

type signingKey struct {
	id        string
	alg       jose.SignatureAlgorithm
	priv      crypto.Signer
	createdAt time.Time
	notBefore time.Time
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is one entry of /keys.
type publicKey struct{ k *signingKey }

func (p publicKey) ID() string                         { return p.k.id }
func (p publicKey) Algorithm() jose.SignatureAlgorithm { return p.k.alg }
func (p publicKey) Use() string                        { return "sig" }
func (p publicKey) Key() any                           { return p.k.priv.Public() }

func newKeys(store storage.KeyStore, alg string, publishDelay, maxTokenTTL time.Duration, now func() time.Time, log *slog.Logger) (*Keys, error) {
	if !ValidSigningAlg(alg) {
		return nil, fmt.Errorf("idp: signing algorithm %q: want RS256, ES256 or EdDSA", alg)
	}
	return &Keys{store: store, alg: jose.SignatureAlgorithm(alg), publishDelay: publishDelay, maxTokenTTL: maxTokenTTL,
		refresh: 30 * time.Second, now: now, log: log}, nil
}

// generate makes a key of algorithm alg.
func (m *Keys) generate(alg jose.SignatureAlgorithm, notBefore time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		err = fmt.Errorf("idp: no signing algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	return &storage.SigningKey{
		ID: storage.NewSecret(12), Algorithm: string(alg), PrivateKey: der,
		CreatedAt: now, NotBefore: notBefore.UTC().Truncate(time.Microsecond),
	}, nil
}

// init makes sure a key of every algorithm can sign now. The first key of
// an algorithm signs at once: no token has been issued that it could
// surprise a relying party with.
func (m *Keys) init(ctx context.Context) error {
	if err := m.load(ctx); err != nil {
		return err
	}
	created := false
	for _, alg := range SigningAlgs {
		if m.active(alg, m.now()) != nil {
			continue
		}
		k, err := m.generate(alg, m.now())
		if err != nil {
			return err
		}
		if err := m.store.CreateSigningKey(ctx, k); err != nil {
			return err
		}
		m.log.Info("created signing key", "kid", k.ID, "alg", k.Algorithm)
		created = true
	}
	if !created {
		return nil
	}
	return m.load(ctx)
}

func (m *Keys) load(ctx context.Context) error {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	keys := make([]*signingKey, 0, len(stored))
	for _, s := range stored {
		p, err := x509.ParsePKCS8PrivateKey(s.PrivateKey)
		if err != nil {
			return fmt.Errorf("idp: signing key %s: %w", s.ID, err)
		}
		signer, ok := p.(crypto.Signer)
		if !ok {
			return fmt.Errorf("idp: signing key %s: not a signer", s.ID)
		}
		keys = append(keys, &signingKey{id: s.ID, alg: jose.SignatureAlgorithm(s.Algorithm), priv: signer,
			createdAt: s.CreatedAt, notBefore: s.NotBefore})
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].notBefore.Before(keys[j].notBefore) })
	m.mu.Lock()
	m.keys, m.loadedAt = keys, m.now()
	m.mu.Unlock()
	return nil
}

// current returns the cached keys, reloading them from the store every
// refresh interval so a rotation on another instance is seen here long
// before its key starts signing (publishDelay > refresh).
func (m *Keys) current(ctx context.Context) []*signingKey {
	m.mu.Lock()
	keys, stale := m.keys, m.now().Sub(m.loadedAt) > m.refresh
	m.mu.Unlock()
	if stale {
		if err := m.load(ctx); err != nil {
			m.log.Warn("reloading signing keys failed; using cached ones", "err", err)
		} else {
			m.mu.Lock()
			keys = m.keys
			m.mu.Unlock()
		}
	}
	return keys
}

// active is the newest key of algorithm alg whose NotBefore has passed.
func (m *Keys) active(alg jose.SignatureAlgorithm, now time.Time) *signingKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	return activeOf(m.keys, alg, now)
}

func activeOf(keys []*signingKey, alg jose.SignatureAlgorithm, now time.Time) *signingKey {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].alg == alg && !keys[i].notBefore.After(now) {
			return keys[i]
		}
	}
	return nil
}

// status tells where k is at now among keys.
func (m *Keys) status(keys []*signingKey, k *signingKey, now time.Time) string {
	if k.notBefore.After(now) {
		return KeyNext
	}
	if activeOf(keys, k.alg, now) == k {
		return KeyActive
	}
	// Replaced: find when its successor (same algorithm) started signing.
	for _, o := range keys {
		if o.alg == k.alg && o.notBefore.After(k.notBefore) && !o.notBefore.After(now) {
			if now.Sub(o.notBefore) > m.maxTokenTTL {
				return KeyRetired
			}
			return KeyRetiring
		}
	}
	// A key of an algorithm no longer signed with whose tokens may still
	// be live: keep publishing it until it is that old.
	if !slices.Contains(SigningAlgs, k.alg) && now.Sub(k.notBefore) > m.maxTokenTTL {
		return KeyRetired
	}
	return KeyRetiring
}

// SigningKey implements op.AuthStorage: the active key of the algorithm
// of the client being served (withSigningAlg), else of Config.SigningAlg.
func (m *Keys) SigningKey(ctx context.Context) (op.SigningKey, error) {
	alg := m.alg
	if a, ok := ctx.Value(signingAlgKey{}).(jose.SignatureAlgorithm); ok {
		alg = a
	}
	keys := m.current(ctx)
	if k := activeOf(keys, alg, m.now()); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("idp: no active %s signing key", alg)
}

// SignatureAlgorithms implements op.AuthStorage: the algorithms of the
// keys /keys publishes, which is what discovery's
// id_token_signing_alg_values_supported lists.
func (m *Keys) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	keys := m.current(ctx)
	now := m.now()
	var out []jose.SignatureAlgorithm
	for _, alg := range SigningAlgs {
		for _, k := range keys {
			if k.alg == alg && !k.notBefore.After(now) && m.status(keys, k, now) != KeyRetired {
				out = append(out, alg)
				break
			}
		}
	}
	return out, nil
}

type signingAlgKey struct{}

// withSigningAlg is ctx for minting the tokens of client c: its ID tokens
// (and JWT access tokens) are signed with the algorithm it registered, or
// the server's default.
func withSigningAlg(ctx context.Context, c *storage.Client) context.Context {
	if c == nil || !ValidSigningAlg(c.IDTokenSignedResponseAlg) {
		return ctx
	}
	return context.WithValue(ctx, signingAlgKey{}, jose.SignatureAlgorithm(c.IDTokenSignedResponseAlg))
}

// KeySet implements op.AuthStorage: every key not retired.
func (m *Keys) KeySet(ctx context.Context) ([]op.Key, error) {
	keys := m.current(ctx)
	now := m.now()
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		if m.status(keys, k, now) != KeyRetired {
			out = append(out, publicKey{k})
		}
	}
	return out, nil
}

// Rotate publishes a new key of algorithm alg, or of every algorithm when
// alg is "", that starts signing after the publish delay.
func (m *Keys) Rotate(ctx context.Context, alg string) ([]KeyInfo, error) {
	algs := SigningAlgs
	if alg != "" {
		if !ValidSigningAlg(alg) {
			return nil, fmt.Errorf("%w: want RS256, ES256 or EdDSA", admin.ErrUnknownAlg)
		}
		algs = []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
	}
	var out []KeyInfo
	for _, a := range algs {
		k, err := m.generate(a, m.now().Add(m.publishDelay))
		if err != nil {
			return nil, err
		}
		if err := m.store.CreateSigningKey(ctx, k); err != nil {
			return nil, err
		}
		m.log.Info("rotated signing key", "kid", k.ID, "alg", k.Algorithm, "not_before", k.NotBefore)
		out = append(out, KeyInfo{ID: k.ID, Algorithm: k.Algorithm, Status: KeyNext, CreatedAt: k.CreatedAt, NotBefore: k.NotBefore})
	}
	return out, m.load(ctx)
}

// List describes every stored key.
func (m *Keys) List(ctx context.Context) ([]KeyInfo, error) {
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	keys := m.keys
	m.mu.Unlock()
	now := m.now()
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyInfo{ID: k.id, Algorithm: string(k.alg), Status: m.status(keys, k, now),
			CreatedAt: k.createdAt, NotBefore: k.notBefore})
	}
	return out, nil
}

// DeleteRetired removes keys no longer published.
func (m *Keys) DeleteRetired(ctx context.Context) error {
	keys := m.current(ctx)
	now := m.now()
	for _, k := range keys {
		if m.status(keys, k, now) == KeyRetired {
			if err := m.store.DeleteSigningKey(ctx, k.id); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
	}
	return m.load(ctx)
}
