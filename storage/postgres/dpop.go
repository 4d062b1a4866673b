package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// UseDPoPProof implements storage.DPoPProofStore: one statement that
// inserts the proof, or takes over a record whose until has passed (not
// yet removed by DeleteExpired), and reports a live record as a conflict.
// Concurrent inserts of one key meet on the primary key: exactly one
// returns a row.
func (s *Store) UseDPoPProof(ctx context.Context, key []byte, until, now time.Time) error {
	if len(key) == 0 {
		return errors.New("postgres: use DPoP proof: key is empty")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO dpop_proofs (key, until) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET until = EXCLUDED.until WHERE dpop_proofs.until <= $3`,
		key, until, now)
	if err != nil {
		return mapErr("use DPoP proof", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use DPoP proof: %w", storage.ErrConflict)
	}
	return nil
}
