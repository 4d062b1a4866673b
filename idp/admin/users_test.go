package admin

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/idp/password"
	"github.com/qrlogin/qrlogin/storage"
)

func TestUserLifecycle(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	const pw = "correct horse battery staple"
	a := h.do(t, "POST", "/admin/v1/users", tok,
		`{"username":"alice","password":"`+pw+`","name":"Alice Liddell","email":"alice@example.com","email_verified":true}`)
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	if bytes.Contains(a.body, []byte("password")) || bytes.Contains(a.body, []byte(pw)) || bytes.Contains(a.body, []byte("argon2")) {
		t.Fatalf("the answer shows the password or its hash: %s", a.body)
	}
	m := a.json(t)
	id, _ := m["id"].(string)
	if len(id) != 22 || m["username"] != "alice" || m["email"] != "alice@example.com" || m["email_verified"] != true {
		t.Fatalf("created %s", a.body)
	}

	u, err := h.store.User(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(u.PasswordHash, pw); !ok || err != nil {
		t.Fatalf("the stored hash does not verify the password: %v %v", ok, err)
	}

	a = h.do(t, "GET", "/admin/v1/users", tok, "")
	if a.status != 200 || !strings.Contains(string(a.body), `"id":"`+id+`"`) || bytes.Contains(a.body, []byte("argon2")) {
		t.Fatalf("list: %d %s", a.status, a.body)
	}

	h.do(t, "POST", "/admin/v1/users", tok, `{"username":"alice","password":"another password"}`).expectError(t, 409, "conflict")

	if a = h.do(t, "DELETE", "/admin/v1/users/"+id, tok, ""); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	h.do(t, "DELETE", "/admin/v1/users/"+id, tok, "").expectError(t, 404, "not_found")
	if a = h.do(t, "GET", "/admin/v1/users", tok, ""); strings.TrimSpace(string(a.body)) != `{"users":[]}` {
		t.Errorf("list after delete: %s", a.body)
	}
}

func TestCreateUserValidation(t *testing.T) {
	const ok = `"password":"long enough"`
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"no username", `{` + ok + `}`, 400},
		{"a username over 64 characters", `{"username":"` + strings.Repeat("u", 65) + `",` + ok + `}`, 400},
		{"a username with a newline", `{"username":"a\nb",` + ok + `}`, 400},
		{"a username with a NUL", `{"username":"a\u0000b",` + ok + `}`, 400},
		{"a username with a C1 control", `{"username":"a\u0085b",` + ok + `}`, 400},
		{"a username with a trailing space", `{"username":"alice ",` + ok + `}`, 400},
		{"no password", `{"username":"bob"}`, 400},
		{"a password of 7 characters", `{"username":"bob","password":"1234567"}`, 400},
		{"a password over 1024 characters", `{"username":"bob","password":"` + strings.Repeat("p", 1025) + `"}`, 400},
		// 600 characters but 1,800 bytes: the sign-in form would refuse it.
		{"a password over 1024 bytes", `{"username":"bob","password":"` + strings.Repeat("€", 600) + `"}`, 400},
		{"an email without @", `{"username":"bob",` + ok + `,"email":"bob.example.com"}`, 400},
		{"an email with a display name", `{"username":"bob",` + ok + `,"email":"Bob <bob@example.com>"}`, 400},
		{"an email with spaces around", `{"username":"bob",` + ok + `,"email":" bob@example.com"}`, 400},
		{"an email over 254 bytes", `{"username":"bob",` + ok + `,"email":"` + strings.Repeat("b", 250) + `@example.com"}`, 400},
		{"email_verified without an email", `{"username":"bob",` + ok + `,"email_verified":true}`, 400},
		{"a name with a control character", `{"username":"bob",` + ok + `,"name":"B\u0007ob"}`, 400},
		{"an id chosen by the caller", `{"id":"root","username":"bob",` + ok + `}`, 400},
		{"a password hash chosen by the caller", `{"username":"bob","password_hash":"$argon2id$…"}`, 400},
		{"a body over 64 KiB", `{"username":"bob","password":"` + strings.Repeat("p", 70<<10) + `"}`, 413},
	}
	h := newHarness(t)
	tok := h.token(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.do(t, "POST", "/admin/v1/users", tok, tt.body)
			a.expectError(t, tt.status, "invalid_request")
			if bytes.Contains(a.body, []byte("long enough")) {
				t.Errorf("the error echoes the password: %s", a.body)
			}
		})
	}
	t.Run("the limits themselves are accepted", func(t *testing.T) {
		a := h.do(t, "POST", "/admin/v1/users", tok,
			`{"username":"`+strings.Repeat("ü", 64)+`","password":"12345678"}`)
		if a.status != 201 {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
}

// Deleting a user revokes their tokens at every client: the phone app's
// token must not keep approving QR logins.
func TestDeletingAUserRevokesTheirTokens(t *testing.T) {
	h := newHarness(t)
	tok := h.token(t)
	ctx := context.Background()
	a := h.do(t, "POST", "/admin/v1/users", tok, `{"username":"bob","password":"long enough pw"}`)
	id, _ := a.json(t)["id"].(string)
	c := h.do(t, "POST", "/admin/v1/clients", tok, `{"name":"Phone","type":"public","first_party":true,"redirect_uris":["http://127.0.0.1/callback"]}`)
	clientID, _ := c.json(t)["client_id"].(string)
	now := time.Now().UTC()
	at := &storage.AccessToken{ID: "at-bob", ClientID: clientID, Subject: id, Audience: []string{clientID},
		SessionID: "s-bob", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := h.store.CreateAccessToken(ctx, at); err != nil {
		t.Fatal(err)
	}
	if a = h.do(t, "DELETE", "/admin/v1/users/"+id, tok, ""); a.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	if _, err := h.store.AccessToken(ctx, "at-bob", now); err == nil {
		t.Fatal("the deleted user's access token still works")
	}
}
