package idp

import "github.com/qrlogin/qrlogin/idp/password"

// HashStats exposes the argon2id gate's accounting to the tests of
// package idp_test: how many checks ran, and at most how many at once.
func (s *Server) HashStats() password.GateStats { return s.hashes.Stats() }
