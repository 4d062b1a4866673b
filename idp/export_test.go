package idp

import "github.com/qrlogin/qrlogin/idp/password"

// HashStats exposes the argon2id gate's accounting to the tests of
// package idp_test: how many checks ran, and at most how many at once.
func (s *Server) HashStats() password.GateStats { return s.hashes.Stats() }

// ParamCap is the edge's cap on a parameter's length, for the tests.
func ParamCap(name string) int {
	if c, ok := paramCaps[name]; ok {
		return c
	}
	return maxParamValue
}
