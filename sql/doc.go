// Package sql owns qrlogin's PostgreSQL schema: numbered migration files
// (0001_init.sql, 0002_….sql), plain SQL, embedded into the binary.
//
// Files are applied in lexical order, each once and in its own
// transaction, by storage/postgres.Migrate, which also keeps the
// schema_migrations table. A file never changes once released: a schema
// change is a new file. Files must not contain their own BEGIN/COMMIT.
package sql
