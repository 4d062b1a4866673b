// Package memory is the in-process storage.Store: the zero-setup default of
// `qrlogin serve` without a database, and the store the other packages'
// tests and benchmarks run against.
//
// One mutex guards all state, so every method is one atomic step: a QR
// transition goes through the table of package grants/rules (rules.Check,
// rules.Apply, in one helper, apply) and writes its change, what it records
// and its audit event under the same lock, and two callers racing on one
// row can never both win. Values are copied in and out, and times are put in
// UTC and truncated to the microsecond on the way in, exactly as the
// PostgreSQL store keeps them, so code tested here behaves the same there.
// Secrets are indexed by the string of their hash, so every lookup by a
// hash is a map access.
//
// State lives as long as the process; nothing is persisted, and the store
// is not shared between instances. Policy (which transition is allowed when)
// is grants/rules' table.
package memory
