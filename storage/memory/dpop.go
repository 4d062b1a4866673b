package memory

import (
	"context"
	"time"
)

// UseDPoPProof implements storage.DPoPProofStore.
func (s *Store) UseDPoPProof(_ context.Context, key []byte, until, now time.Time) error {
	if len(key) == 0 {
		return invalid("DPoP proof key is empty")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.dpopProofs[string(key)]; ok && ut(now).Before(prev) {
		return conflict("DPoP proof already used")
	}
	s.dpopProofs[string(key)] = ut(until)
	return nil
}
