package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/qrlogin/qrlogin/idp/admin"
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

// Keys manages signing keys: it creates the first one, rotates, and gives
// zitadel the active signer and the published set.
//
// Rotation: a new key is published at once and starts signing PublishDelay
// later, so relying parties that cache /keys have seen it before the first
// token it signs; the key it replaces stays published for MaxTokenTTL after
// that, until every token it signed has expired.
type Keys struct {
	store        storage.KeyStore
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
	a := jose.SignatureAlgorithm(alg)
	if a != jose.RS256 && a != jose.ES256 {
		return nil, fmt.Errorf("idp: signing algorithm %q: want RS256 or ES256", alg)
	}
	return &Keys{store: store, alg: a, publishDelay: publishDelay, maxTokenTTL: maxTokenTTL,
		refresh: 30 * time.Second, now: now, log: log}, nil
}

// generate makes a key of the configured algorithm.
func (m *Keys) generate(notBefore time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch m.alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
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
		ID: storage.NewSecret(12), Algorithm: string(m.alg), PrivateKey: der,
		CreatedAt: now, NotBefore: notBefore.UTC().Truncate(time.Microsecond),
	}, nil
}

// init makes sure a key of the configured algorithm can sign now. The
// first key signs at once: no token has been issued that it could
// surprise a relying party with.
func (m *Keys) init(ctx context.Context) error {
	if err := m.load(ctx); err != nil {
		return err
	}
	if m.active(m.now()) != nil {
		return nil
	}
	k, err := m.generate(m.now())
	if err != nil {
		return err
	}
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return err
	}
	m.log.Info("created signing key", "kid", k.ID, "alg", k.Algorithm)
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

// active is the newest key of the configured algorithm whose NotBefore
// has passed.
func (m *Keys) active(now time.Time) *signingKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	return activeOf(m.keys, m.alg, now)
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
	if activeOf(keys, m.alg, now) == k {
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
	// A key of another algorithm (after --signing-alg changed) whose tokens
	// may still be live: keep publishing it until it is that old.
	if now.Sub(k.notBefore) > m.maxTokenTTL && activeOf(keys, m.alg, now) != nil &&
		now.Sub(activeOf(keys, m.alg, now).notBefore) > m.maxTokenTTL {
		return KeyRetired
	}
	return KeyRetiring
}

// SigningKey implements op.AuthStorage.
func (m *Keys) SigningKey(ctx context.Context) (op.SigningKey, error) {
	keys := m.current(ctx)
	if k := activeOf(keys, m.alg, m.now()); k != nil {
		return k, nil
	}
	return nil, errors.New("idp: no active signing key")
}

// SignatureAlgorithms implements op.AuthStorage.
func (m *Keys) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{m.alg}, nil
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

// Rotate publishes a new key that starts signing after the publish delay.
func (m *Keys) Rotate(ctx context.Context) (KeyInfo, error) {
	k, err := m.generate(m.now().Add(m.publishDelay))
	if err != nil {
		return KeyInfo{}, err
	}
	if err := m.store.CreateSigningKey(ctx, k); err != nil {
		return KeyInfo{}, err
	}
	if err := m.load(ctx); err != nil {
		return KeyInfo{}, err
	}
	m.log.Info("rotated signing key", "kid", k.ID, "alg", k.Algorithm, "not_before", k.NotBefore)
	return KeyInfo{ID: k.ID, Algorithm: k.Algorithm, Status: KeyNext, CreatedAt: k.CreatedAt, NotBefore: k.NotBefore}, nil
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
