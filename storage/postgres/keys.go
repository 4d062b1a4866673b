package postgres

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

// keyCipher encrypts values at rest with AES-256-GCM under the key
// encryption key. A sealed value is
//
//	version (1 byte, 1) || nonce (12 bytes, random) || ciphertext || tag
//
// and its additional data names the row it belongs to ("signing_keys/<id>",
// "secrets/<name>"), so a ciphertext copied into another row does not
// decrypt there. Random 96-bit nonces are safe far beyond the number of
// keys and secrets one deployment ever seals (NIST SP 800-38D §8.3).
type keyCipher struct{ aead cipher.AEAD }

const sealVersion = 1

func newKeyCipher(kek []byte) (*keyCipher, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("postgres: key encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("postgres: key encryption key: %w", err)
	}
	return &keyCipher{aead: aead}, nil
}

func (k *keyCipher) seal(plaintext []byte, row string) []byte {
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // never fails (Go 1.24+)
	return k.aead.Seal(out, out[1:], plaintext, []byte(row))
}

// errDecrypt does not say why: a wrong key and a tampered row look alike.
var errDecrypt = errors.New("postgres: cannot decrypt a value stored at rest: wrong key encryption key, or the row was altered")

func (k *keyCipher) open(sealed []byte, row string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != sealVersion {
		return nil, errDecrypt
	}
	pt, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(row))
	if err != nil {
		return nil, errDecrypt
	}
	return pt, nil
}

// CreateSigningKey implements storage.KeyStore. Only the ciphertext of
// k.PrivateKey reaches the database.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at, not_before)
		VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Algorithm, s.aead.seal(k.PrivateKey, "signing_keys/"+k.ID), k.CreatedAt, k.NotBefore)
	return mapErr("create signing key", err)
}

// SigningKeys implements storage.KeyStore.
func (s *Store) SigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, private_key, created_at, not_before
		FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr("signing keys", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storage.SigningKey, error) {
		var k storage.SigningKey
		var sealed []byte
		if err := r.Scan(&k.ID, &k.Algorithm, &sealed, &k.CreatedAt, &k.NotBefore); err != nil {
			return nil, err
		}
		k.CreatedAt, k.NotBefore = k.CreatedAt.UTC(), k.NotBefore.UTC()
		pk, err := s.aead.open(sealed, "signing_keys/"+k.ID)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		k.PrivateKey = pk
		return &k, nil
	})
	if err != nil {
		return nil, mapErr("signing keys", err)
	}
	return keys, nil
}

// DeleteSigningKey implements storage.KeyStore.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	return mustAffect("delete signing key", tag, err)
}

// Secret implements storage.Store. The common case is one read. The first
// time, every racing instance generates a candidate, INSERT … ON CONFLICT
// DO NOTHING lets exactly one candidate in, and the losers read the winner
// in a fresh statement (a fresh snapshot, which sees the committed row).
func (s *Store) Secret(ctx context.Context, name string, generate func() []byte) ([]byte, error) {
	row := "secrets/" + name
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		v := generate()
		if len(v) == 0 {
			return nil, fmt.Errorf("postgres: secret %q: generate returned nothing", name)
		}
		err = s.pool.QueryRow(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING RETURNING value`, name, s.aead.seal(v, row)).Scan(&sealed)
		if errors.Is(err, pgx.ErrNoRows) {
			err = s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&sealed)
		}
	}
	if err != nil {
		return nil, mapErr("secret", err)
	}
	v, err := s.aead.open(sealed, row)
	if err != nil {
		return nil, fmt.Errorf("postgres: secret %q: %w", name, err)
	}
	return v, nil
}
