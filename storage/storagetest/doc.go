// Package storagetest is the conformance suite every storage.Store backend
// must pass.
//
// Run executes one named subtest per rule of the contract documented in
// package storage (the shape of testing/slogtest): atomic conditional
// transitions of a QR login, exactly-once redemption, rotation and
// revocation of refresh token families, single-use authorization codes,
// expiry as a time comparison, UTC microsecond times and copy semantics.
//
// RunShared checks the rules that span instances (races between two
// stores over one backend, and wake-ups of a subscriber on one instance by a
// change made on the other); a backend that can be shared runs it with two
// instances over one database.
//
// The suite uses only the public contract. Every subtest gets a fresh, empty
// store from the caller, passes every "now" explicitly (a fixed base time,
// never the wall clock) and creates the clients and users its rows refer to
// first, so a backend with foreign keys passes it unchanged.
//
// It owns no backend and no policy: which transition is allowed in which
// state is package grants' decision; the suite only checks that a backend
// applies what it is asked for atomically and only while the documented
// precondition holds.
package storagetest
