package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/qrlogin/qrlogin/storage"
)

const clientCols = `id, name, secret_hash, type, first_party, redirect_uris, post_logout_redirect_uris,
	grant_types, logo_uri, client_uri, access_token_type, created_at, rate_limit,
	allowed_origins, qr_number_matching, qr_session, qr_second_scan, id_token_signed_response_alg, proximity_policy, dpop_bound_access_tokens`

func readClient(row pgx.Row) (*storage.Client, error) {
	var c storage.Client
	var typ string
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &typ, &c.FirstParty, &c.RedirectURIs, &c.PostLogoutRedirectURIs,
		&c.GrantTypes, &c.LogoURI, &c.ClientURI, &c.AccessTokenType, &c.CreatedAt, &c.RateLimit,
		&c.AllowedOrigins, &c.QRNumberMatching, &c.QRSession, &c.QRSecondScan, &c.IDTokenSignedResponseAlg, &c.ProximityPolicy, &c.DPoPBoundAccessTokens)
	c.Type = storage.ClientType(typ)
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, err
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
		$14, $15, $16, $17, $18, $19, $20)`,
		c.ID, c.Name, c.SecretHash, string(c.Type), c.FirstParty, list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		list(c.GrantTypes), c.LogoURI, c.ClientURI, c.AccessTokenType, c.CreatedAt, c.RateLimit,
		list(c.AllowedOrigins), c.QRNumberMatching, c.QRSession, c.QRSecondScan, c.IDTokenSignedResponseAlg, c.ProximityPolicy, c.DPoPBoundAccessTokens)
	return mapErr("create client", err)
}

// Client implements storage.ClientStore.
func (s *Store) Client(ctx context.Context, id string) (*storage.Client, error) {
	c, err := readClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("client", err)
	}
	return c, nil
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]*storage.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr("list clients", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storage.Client, error) { return readClient(r) })
	return cs, mapErr("list clients", err)
}

// DeleteClient implements storage.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
	return mustAffect("delete client", tag, err)
}

// SetClientSecretHash implements storage.ClientStore.
func (s *Store) SetClientSecretHash(ctx context.Context, id string, hash []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET secret_hash = $2 WHERE id = $1`, id, hash)
	return mustAffect("set client secret", tag, err)
}

// UpdateClient implements storage.ClientStore; NULL leaves a column as it
// is.
func (s *Store) UpdateClient(ctx context.Context, id string, u storage.ClientUpdate) (*storage.Client, error) {
	c, err := readClient(s.pool.QueryRow(ctx, `UPDATE clients SET rate_limit = coalesce($2, rate_limit),
		id_token_signed_response_alg = coalesce($3, id_token_signed_response_alg),
		proximity_policy = coalesce($4, proximity_policy),
		dpop_bound_access_tokens = coalesce($5, dpop_bound_access_tokens)
		WHERE id = $1 RETURNING `+clientCols, id, u.RateLimit, u.IDTokenSignedResponseAlg, u.ProximityPolicy, u.DPoPBoundAccessTokens))
	return c, mapErr("update client", err)
}

// SetClientQRDefences implements storage.ClientStore.
func (s *Store) SetClientQRDefences(ctx context.Context, id string, d *storage.Client) error {
	tag, err := s.pool.Exec(ctx, `UPDATE clients SET qr_number_matching = $2, qr_session = $3, qr_second_scan = $4 WHERE id = $1`,
		id, d.QRNumberMatching, d.QRSession, d.QRSecondScan)
	return mustAffect("set client qr defences", tag, err)
}

const userCols = `id, username, password_hash, name, email, email_verified, created_at, disabled`

func readUser(row pgx.Row) (*storage.User, error) {
	var u storage.User
	err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Name, &u.Email, &u.EmailVerified, &u.CreatedAt, &u.Disabled)
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, err
}

// CreateUser implements storage.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.Username, u.PasswordHash, u.Name, u.Email, u.EmailVerified, u.CreatedAt, u.Disabled)
	return mapErr("create user", err)
}

// User implements storage.UserStore.
func (s *Store) User(ctx context.Context, id string) (*storage.User, error) {
	u, err := readUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, mapErr("user", err)
	}
	return u, nil
}

// UserByUsername implements storage.UserStore.
func (s *Store) UserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := readUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
	if err != nil {
		return nil, mapErr("user by username", err)
	}
	return u, nil
}

// ListUsers implements storage.UserStore.
func (s *Store) ListUsers(ctx context.Context) ([]*storage.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, mapErr("list users", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storage.User, error) { return readUser(r) })
	return us, mapErr("list users", err)
}

// DeleteUser implements storage.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	return mustAffect("delete user", tag, err)
}
