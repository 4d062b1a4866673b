// Package password owns how end-user passwords are stored and checked:
// argon2id (RFC 9106) with the OWASP Password Storage Cheat Sheet's
// minimum parameters (m=19 MiB, t=2, p=1), encoded in the PHC string
// format that storage.User.PasswordHash holds.
//
// It owns nothing else: client secrets, device codes and tickets are
// high-entropy random values and are kept as plain SHA-256 hashes
// (storage.Hash), because a password hash on every poll would cap the
// server at tens of requests per second.
package password
