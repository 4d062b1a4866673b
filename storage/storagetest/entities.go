package storagetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

func newClient(id string, created time.Time) *storage.Client {
	return &storage.Client{
		ID:                       id,
		Name:                     "Client " + id,
		SecretHash:               storage.Hash("secret-" + id),
		Type:                     storage.ClientConfidential,
		RedirectURIs:             []string{"https://" + id + ".example/cb", "http://127.0.0.1:9999/cb"},
		PostLogoutRedirectURIs:   []string{"https://" + id + ".example/bye"},
		GrantTypes:               []string{"authorization_code", "refresh_token"},
		LogoURI:                  "https://" + id + ".example/logo.png",
		ClientURI:                "https://" + id + ".example/",
		AccessTokenType:          "jwt",
		IDTokenSignedResponseAlg: "ES256",
		RateLimit:                250,
		CreatedAt:                created,
		AllowedOrigins:           []string{"https://" + id + ".example", "http://127.0.0.1:9999"},
		ProximityPolicy:          storage.ProximityRequire,
		DPoPBoundAccessTokens:    true,
	}
}

func newUser(id, username string, created time.Time) *storage.User {
	return &storage.User{
		ID:            id,
		Username:      username,
		PasswordHash:  "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$" + id,
		Name:          "Name of " + username,
		Email:         username + "@example.com",
		EmailVerified: true,
		CreatedAt:     created,
	}
}

func newNotification(n int, subject string, created time.Time) *storage.Notification {
	return &storage.Notification{
		ID:                 fmt.Sprintf("notification-%d", n),
		Subject:            subject,
		Kind:               storage.NotificationSignIn,
		ClientID:           clientRP,
		ClientName:         "Relying Party",
		RequesterIP:        requesterIP,
		RequesterUserAgent: requesterUA,
		ReportedByClient:   true,
		SessionID:          fmt.Sprintf("session-%d", n),
		CreatedAt:          created,
	}
}

func newSigningKey(id string, created time.Time) *storage.SigningKey {
	return &storage.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PrivateKey: []byte("pkcs8 der of " + id + "\x00\x01\xff"),
		CreatedAt:  created,
		NotBefore:  created.Add(time.Hour),
	}
}

var entityCases = []testCase{
	{"clients round-trip and are listed by creation time, then id", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		b := newClient("c-b", at(2*time.Second))
		z := newClient("c-z", at(time.Second))
		a := newClient("c-a", at(time.Second))
		a.SecretHash, a.Type, a.FirstParty = nil, storage.ClientPublic, true
		for _, c := range []*storage.Client{b, z, a} {
			must(t, s.CreateClient(ctx, c), "CreateClient("+c.ID+")")
		}
		got, err := s.Client(ctx, a.ID)
		must(t, err, "Client")
		wantSame(t, got, a, "Client(c-a)")
		list, err := s.ListClients(ctx)
		must(t, err, "ListClients")
		wantSame(t, list, []*storage.Client{a, z, b}, "ListClients")
	}},
	{"a duplicate client id fails with ErrConflict", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c := newClient("c-1", base)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		dup := newClient("c-1", at(time.Second))
		dup.Name = "Impostor"
		wantErr(t, s.CreateClient(ctx, dup), storage.ErrConflict, "CreateClient(duplicate)")
		got, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		wantSame(t, got, c, "the first client")
	}},
	{"an unknown client is not found, and deleting or updating it fails with ErrNotFound", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		_, err := s.Client(ctx, "c-missing")
		wantErr(t, err, storage.ErrNotFound, "Client")
		wantErr(t, s.DeleteClient(ctx, "c-missing"), storage.ErrNotFound, "DeleteClient")
		wantErr(t, s.SetClientSecretHash(ctx, "c-missing", storage.Hash("x")), storage.ErrNotFound, "SetClientSecretHash")
		_, err = s.UpdateClient(ctx, "c-missing", storage.ClientUpdate{RateLimit: ptr(5.0)})
		wantErr(t, err, storage.ErrNotFound, "UpdateClient")
		wantErr(t, s.SetClientQRDefences(ctx, "c-missing", &storage.Client{QRNumberMatching: true}), storage.ErrNotFound, "SetClientQRDefences")
	}},
	{"SetClientQRDefences replaces the three defences and nothing else", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c := newClient("c-1", base)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		want := *c
		for _, d := range []storage.Client{
			{QRNumberMatching: true, QRSession: storage.QRSessionAsk, QRSecondScan: storage.QRSecondScanRefuse, Name: "ignored", RateLimit: 9},
			{},
		} {
			must(t, s.SetClientQRDefences(ctx, c.ID, &d), "SetClientQRDefences")
			want.QRNumberMatching, want.QRSession, want.QRSecondScan = d.QRNumberMatching, d.QRSession, d.QRSecondScan
			got, err := s.Client(ctx, c.ID)
			must(t, err, "Client")
			wantSame(t, got, &want, fmt.Sprintf("Client after SetClientQRDefences(%+v)", d))
		}
	}},
	{"UpdateClient replaces the quota (fractions kept, 0 goes back to the default), the ID token algorithm, the proximity policy and dpop_bound_access_tokens, and leaves the rest", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c := newClient("c-1", base)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		want := *c
		// Each step changes one field; want follows.
		type step struct {
			name string
			u    storage.ClientUpdate
			set  func(*storage.Client)
		}
		var steps []step
		for _, q := range []float64{2.5, 0, 1e6} {
			steps = append(steps, step{fmt.Sprintf("rate limit %v", q), storage.ClientUpdate{RateLimit: ptr(q)},
				func(c *storage.Client) { c.RateLimit = q }})
		}
		for _, alg := range []string{"RS256", ""} {
			steps = append(steps, step{"alg " + alg, storage.ClientUpdate{IDTokenSignedResponseAlg: ptr(alg)},
				func(c *storage.Client) { c.IDTokenSignedResponseAlg = alg }})
		}
		for _, p := range []string{storage.ProximityOff, storage.ProximityWarn, storage.ProximityRequire} {
			steps = append(steps, step{"proximity policy " + p, storage.ClientUpdate{ProximityPolicy: ptr(p)},
				func(c *storage.Client) { c.ProximityPolicy = p }})
		}
		for _, b := range []bool{true, false} {
			steps = append(steps, step{fmt.Sprintf("dpop_bound_access_tokens %v", b), storage.ClientUpdate{DPoPBoundAccessTokens: ptr(b)},
				func(c *storage.Client) { c.DPoPBoundAccessTokens = b }})
		}
		for _, st := range steps {
			got, err := s.UpdateClient(ctx, c.ID, st.u)
			must(t, err, "UpdateClient")
			st.set(&want)
			wantSame(t, got, &want, "UpdateClient("+st.name+")")
			got, err = s.Client(ctx, c.ID)
			must(t, err, "Client")
			wantSame(t, got, &want, "Client after UpdateClient("+st.name+")")
		}
	}},
	{"SetClientSecretHash replaces the secret hash", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c := newClient("c-1", base)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		must(t, s.SetClientSecretHash(ctx, c.ID, storage.Hash("rotated")), "SetClientSecretHash")
		want := *c
		want.SecretHash = storage.Hash("rotated")
		got, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		wantSame(t, got, &want, "Client after rotation")
	}},
	{"a deleted client is gone and others stay", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		c1, c2 := newClient("c-1", base), newClient("c-2", base)
		must(t, s.CreateClient(ctx, c1), "CreateClient")
		must(t, s.CreateClient(ctx, c2), "CreateClient")
		must(t, s.DeleteClient(ctx, c1.ID), "DeleteClient")
		_, err := s.Client(ctx, c1.ID)
		wantErr(t, err, storage.ErrNotFound, "Client after delete")
		wantErr(t, s.DeleteClient(ctx, c1.ID), storage.ErrNotFound, "second DeleteClient")
		list, err := s.ListClients(ctx)
		must(t, err, "ListClients")
		wantSame(t, list, []*storage.Client{c2}, "ListClients after delete")
	}},
	{"users round-trip by id and by username and are listed by creation time, then id", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		b := newUser("u-b", "beatrix", at(2*time.Second))
		z := newUser("u-z", "zoe", at(time.Second))
		a := newUser("u-a", "anna", at(time.Second))
		a.EmailVerified = false
		for _, u := range []*storage.User{b, z, a} {
			must(t, s.CreateUser(ctx, u), "CreateUser("+u.ID+")")
		}
		got, err := s.User(ctx, a.ID)
		must(t, err, "User")
		wantSame(t, got, a, "User(u-a)")
		got, err = s.UserByUsername(ctx, "zoe")
		must(t, err, "UserByUsername")
		wantSame(t, got, z, "UserByUsername(zoe)")
		list, err := s.ListUsers(ctx)
		must(t, err, "ListUsers")
		wantSame(t, list, []*storage.User{a, z, b}, "ListUsers")
		_, err = s.User(ctx, "u-missing")
		wantErr(t, err, storage.ErrNotFound, "User(unknown)")
		_, err = s.UserByUsername(ctx, "nobody")
		wantErr(t, err, storage.ErrNotFound, "UserByUsername(unknown)")
	}},
	{"a duplicate user id or username fails with ErrConflict", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		u := newUser("u-1", "anna", base)
		must(t, s.CreateUser(ctx, u), "CreateUser")
		wantErr(t, s.CreateUser(ctx, newUser("u-1", "other", base)), storage.ErrConflict, "CreateUser(same id)")
		wantErr(t, s.CreateUser(ctx, newUser("u-2", "anna", base)), storage.ErrConflict, "CreateUser(same username)")
		_, err := s.User(ctx, "u-2")
		wantErr(t, err, storage.ErrNotFound, "User(rejected)")
		_, err = s.UserByUsername(ctx, "other")
		wantErr(t, err, storage.ErrNotFound, "UserByUsername(rejected)")
		got, err := s.UserByUsername(ctx, "anna")
		must(t, err, "UserByUsername")
		wantSame(t, got, u, "the first user")
	}},
	{"a deleted user is gone and its username is free again", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		u := newUser("u-1", "anna", base)
		must(t, s.CreateUser(ctx, u), "CreateUser")
		must(t, s.DeleteUser(ctx, u.ID), "DeleteUser")
		_, err := s.User(ctx, u.ID)
		wantErr(t, err, storage.ErrNotFound, "User after delete")
		_, err = s.UserByUsername(ctx, "anna")
		wantErr(t, err, storage.ErrNotFound, "UserByUsername after delete")
		wantErr(t, s.DeleteUser(ctx, u.ID), storage.ErrNotFound, "second DeleteUser")
		must(t, s.CreateUser(ctx, newUser("u-2", "anna", at(time.Second))), "CreateUser(reused username)")
	}},
	{"signing keys are listed oldest first and can be deleted", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		k2, k1, k3 := newSigningKey("k-2", at(time.Second)), newSigningKey("k-1", base), newSigningKey("k-3", at(2*time.Second))
		for _, k := range []*storage.SigningKey{k2, k1, k3} {
			must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey("+k.ID+")")
		}
		keys, err := s.SigningKeys(ctx)
		must(t, err, "SigningKeys")
		wantSame(t, keys, []*storage.SigningKey{k1, k2, k3}, "SigningKeys")
		must(t, s.DeleteSigningKey(ctx, k2.ID), "DeleteSigningKey")
		keys, err = s.SigningKeys(ctx)
		must(t, err, "SigningKeys")
		wantSame(t, keys, []*storage.SigningKey{k1, k3}, "SigningKeys after delete")
	}},
	{"an admin token reads back until it expires and can be deleted", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := &storage.AdminToken{AccessHash: storage.Hash("admin-1"), ClientID: clientRP, Scope: "admin", CreatedAt: base, ExpiresAt: at(time.Hour)}
		b := &storage.AdminToken{AccessHash: storage.Hash("admin-2"), ClientID: clientRP, Scope: "admin", CreatedAt: base, ExpiresAt: at(time.Hour)}
		must(t, s.CreateAdminToken(ctx, a), "CreateAdminToken")
		must(t, s.CreateAdminToken(ctx, b), "CreateAdminToken")
		got, err := s.AdminToken(ctx, a.AccessHash, a.ExpiresAt.Add(-time.Microsecond))
		must(t, err, "AdminToken before expiry")
		wantSame(t, got, a, "AdminToken")
		_, err = s.AdminToken(ctx, a.AccessHash, a.ExpiresAt)
		wantErr(t, err, storage.ErrNotFound, "AdminToken at expiry")
		_, err = s.AdminToken(ctx, storage.Hash("admin-missing"), base)
		wantErr(t, err, storage.ErrNotFound, "AdminToken(unknown)")
		must(t, s.DeleteAdminToken(ctx, a.AccessHash), "DeleteAdminToken")
		_, err = s.AdminToken(ctx, a.AccessHash, base)
		wantErr(t, err, storage.ErrNotFound, "AdminToken after delete")
		got, err = s.AdminToken(ctx, b.AccessHash, base)
		must(t, err, "the other AdminToken")
		wantSame(t, got, b, "the other AdminToken")
	}},
	{"notifications are listed per subject, newest first, at most limit", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		n1 := newNotification(1, alice, at(1*time.Second))
		n2 := newNotification(2, alice, at(3*time.Second))
		n3 := newNotification(3, alice, at(2*time.Second))
		n4 := newNotification(4, bob, at(4*time.Second))
		for _, n := range []*storage.Notification{n1, n2, n3, n4} {
			must(t, s.CreateNotification(ctx, n), "CreateNotification("+n.ID+")")
		}
		for _, c := range []struct {
			subject string
			limit   int
			want    []*storage.Notification
		}{
			{alice, 10, []*storage.Notification{n2, n3, n1}},
			{alice, 2, []*storage.Notification{n2, n3}},
			{bob, 10, []*storage.Notification{n4}},
			{carol, 10, nil},
		} {
			got, err := s.Notifications(ctx, c.subject, c.limit)
			must(t, err, "Notifications")
			wantSame(t, got, c.want, fmt.Sprintf("Notifications(%s, %d)", c.subject, c.limit))
		}
		got, err := s.Notification(ctx, n3.ID)
		must(t, err, "Notification")
		wantSame(t, got, n3, "Notification")
		_, err = s.Notification(ctx, "notification-missing")
		wantErr(t, err, storage.ErrNotFound, "Notification(unknown)")
		wantErr(t, s.CreateNotification(ctx, newNotification(1, bob, base)), storage.ErrConflict, "CreateNotification(duplicate)")
	}},
	{"a notification keeps its kind; one made without a kind is a sign-in", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		lock := &storage.Notification{ID: "notification-lock", Subject: alice, Kind: storage.NotificationPasswordLockout,
			RequesterIP: requesterIP, RequesterUserAgent: requesterUA, CreatedAt: at(time.Second)}
		plain := newNotification(2, alice, at(2*time.Second))
		plain.Kind = ""
		for _, n := range []*storage.Notification{lock, plain} {
			must(t, s.CreateNotification(ctx, n), "CreateNotification("+n.ID+")")
		}
		got, err := s.Notification(ctx, lock.ID)
		must(t, err, "Notification(lockout)")
		wantSame(t, got, lock, "Notification(lockout)")
		got, err = s.Notification(ctx, plain.ID)
		must(t, err, "Notification(no kind)")
		if got.Kind != storage.NotificationSignIn {
			t.Fatalf("a notification made without a kind reads back as %q, want %q", got.Kind, storage.NotificationSignIn)
		}
	}},
	{"10 concurrent Secret calls for one name return identical bytes", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		got := make([][]byte, 10)
		errs := race(len(got), func(i int) error {
			var err error
			got[i], err = s.Secret(ctx, "cookie-key", func() []byte {
				// A slow generator holds the callers inside the window
				// between "not there yet" and "stored", where a backend
				// without an atomic insert-if-absent lets each keep its own.
				time.Sleep(10 * time.Millisecond)
				return []byte(storage.NewSecret(32))
			})
			return err
		})
		for i := range got {
			must(t, errs[i], "Secret")
			if len(got[i]) == 0 || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("caller %d got %q, caller 0 got %q", i, got[i], got[0])
			}
		}
		again, err := s.Secret(ctx, "cookie-key", func() []byte { return []byte("a replacement") })
		must(t, err, "Secret")
		if !bytes.Equal(again, got[0]) {
			t.Fatalf("a later call got %q, want the existing secret %q", again, got[0])
		}
	}},
	{"secrets are kept per name", func(t *testing.T, s storage.Store) {
		ctx := t.Context()
		a, err := s.Secret(ctx, "a", func() []byte { return []byte("secret a") })
		must(t, err, "Secret(a)")
		b, err := s.Secret(ctx, "b", func() []byte { return []byte("secret b") })
		must(t, err, "Secret(b)")
		if string(a) != "secret a" || string(b) != "secret b" {
			t.Fatalf("Secret(a) = %q, Secret(b) = %q", a, b)
		}
	}},
}
