// Package storage owns qrlogin's domain types and the contract every
// backend implements: clients, users, QR logins, authorization requests,
// access and refresh tokens, signing keys, admin tokens, notifications, the
// QR audit trail, browser sessions and shared secrets.
//
// It holds no policy. Which transition is allowed is decided by package
// grants; a backend only guarantees that each transition it is asked for is
// applied atomically and only when its precondition still holds, so that two
// instances racing on one row can never both win.
//
// Backends live in storage/memory and storage/postgres; storage/storagetest
// is the conformance suite both must pass.
package storage
