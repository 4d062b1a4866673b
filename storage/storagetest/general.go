package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

var generalCases = []testCase{
	{"Ping reports a reachable store", func(t *testing.T, s storage.Store) {
		must(t, s.Ping(t.Context()), "Ping")
	}},
	{"DeleteExpired removes at most limit expired rows of a kind per call and keeps live ones", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		for i := range 3 {
			createAccess(t, s, newAccessToken(fmt.Sprintf("at-expired-%d", i), "session-1", "", alice, clientRP))
		}
		live := newAccessToken("at-live", "session-1", "", alice, clientRP)
		live.ExpiresAt = at(3 * time.Hour)
		createAccess(t, s, live)
		before := at(2 * time.Hour) // after the expired ones' accessTTL
		for _, want := range []int{2, 1, 0} {
			n, err := s.DeleteExpired(ctx, before, 2)
			must(t, err, "DeleteExpired")
			if n != want {
				t.Fatalf("DeleteExpired removed %d rows, want %d", n, want)
			}
		}
		for i := range 3 {
			wantAccess(t, s, fmt.Sprintf("at-expired-%d", i), nil)
		}
		wantAccess(t, s, live.ID, live)
	}},
	{"DeleteExpired leaves an expired event for a login that never finished, and the trail outlives the login until DeleteAuditEvents", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		unfinished, denied := newLogin(1), newLogin(2)
		createLogin(t, s, unfinished)
		createLogin(t, s, denied)
		_, err := scanAt(t, s, denied.ID, alice, goodTicket, at(time.Second))
		must(t, err, "scan")
		_, err = decideAt(t, s, denied.ID, storage.StatusDenied, alice, goodTicket, at(2*time.Second))
		must(t, err, "deny")

		cutoff := unfinished.ExpiresAt.Add(time.Hour)
		if _, err := s.DeleteExpired(ctx, cutoff, 100); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		events, err := s.QRAuditEvents(ctx, unfinished.ID)
		must(t, err, "QRAuditEvents")
		if len(events) != 2 || events[0].Event != "created" || events[1].Event != "expired" ||
			!events[1].At.Equal(unfinished.ExpiresAt) || events[1].ClientID != unfinished.ClientID {
			t.Fatalf("trail of the expired login: %+v", events)
		}
		events, err = s.QRAuditEvents(ctx, denied.ID)
		must(t, err, "QRAuditEvents")
		if len(events) != 3 || events[2].Event != "denied" {
			t.Fatalf("trail of the denied login: %+v (a finished login gets no expired event)", events)
		}

		n, err := s.DeleteAuditEvents(ctx, at(time.Second), 100) // only the two created events are older
		must(t, err, "DeleteAuditEvents")
		if n != 2 {
			t.Fatalf("DeleteAuditEvents removed %d events, want 2", n)
		}
		if n, err = s.DeleteAuditEvents(ctx, cutoff.Add(time.Hour), 1); err != nil || n != 1 {
			t.Fatalf("DeleteAuditEvents with limit 1 removed %d, %v", n, err)
		}
	}},
	{"DeleteNotifications removes notifications created before the cutoff, at most limit, and keeps the rest", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		old1, old2, old3 := newNotification(1, alice, at(time.Second)), newNotification(2, alice, at(2*time.Second)), newNotification(3, bob, at(3*time.Second))
		young := newNotification(4, alice, at(time.Hour))
		for _, n := range []*storage.Notification{old1, old2, old3, young} {
			must(t, s.CreateNotification(ctx, n), "CreateNotification("+n.ID+")")
		}
		cutoff := at(time.Minute)
		n, err := s.DeleteNotifications(ctx, cutoff, 2)
		must(t, err, "DeleteNotifications")
		if n != 2 {
			t.Fatalf("DeleteNotifications with limit 2 removed %d", n)
		}
		n, err = s.DeleteNotifications(ctx, cutoff, 100)
		must(t, err, "DeleteNotifications")
		if n != 1 {
			t.Fatalf("the second batch removed %d, want the 1 left", n)
		}
		for _, gone := range []*storage.Notification{old1, old2, old3} {
			_, err := s.Notification(ctx, gone.ID)
			wantErr(t, err, storage.ErrNotFound, "Notification("+gone.ID+") past its retention")
		}
		got, err := s.Notifications(ctx, alice, 10)
		must(t, err, "Notifications")
		wantSame(t, got, []*storage.Notification{young}, "alice's notifications after the cleanup")
		got, err = s.Notifications(ctx, bob, 10)
		must(t, err, "Notifications")
		if len(got) != 0 {
			t.Fatalf("bob's notifications after the cleanup: %+v", got)
		}
	}},
	{"DeleteExpired removes expired rows of every kind and keeps live ones", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		// Every row below is live at base; the "old" ones end before
		// cutoff, the "new" ones after it.
		cutoff := at(48 * time.Hour)
		old, young := base.Add(time.Hour), cutoff.Add(time.Hour)

		oldLogin, newLogin2 := newLogin(1), newLogin(2)
		oldLogin.ExpiresAt, newLogin2.ExpiresAt = old, young
		createLogin(t, s, oldLogin)
		createLogin(t, s, newLogin2)
		oldReq, newReq := newAuthRequest(1), newAuthRequest(2)
		oldReq.ExpiresAt, newReq.ExpiresAt = old, young
		mustCreateAuthRequest(t, s, oldReq)
		mustCreateAuthRequest(t, s, newReq)
		oldAT, newAT := newAccessToken("at-old", "session-1", "", alice, clientRP), newAccessToken("at-new", "session-2", "", alice, clientRP)
		oldAT.ExpiresAt, newAT.ExpiresAt = old, young
		createAccess(t, s, oldAT)
		createAccess(t, s, newAT)
		oldRT, newRT := newRefreshToken("rt-old", "session-1", alice, clientRP), newRefreshToken("rt-new", "session-2", alice, clientRP)
		oldRT.ExpiresAt, newRT.ExpiresAt = old, young
		createRefresh(t, s, oldRT)
		createRefresh(t, s, newRT)
		oldAdm := &storage.AdminToken{AccessHash: storage.Hash("admin-old"), ClientID: clientRP, Scope: "admin", CreatedAt: base, ExpiresAt: old}
		newAdm := &storage.AdminToken{AccessHash: storage.Hash("admin-new"), ClientID: clientRP, Scope: "admin", CreatedAt: base, ExpiresAt: young}
		must(t, s.CreateAdminToken(ctx, oldAdm), "CreateAdminToken")
		must(t, s.CreateAdminToken(ctx, newAdm), "CreateAdminToken")

		n, err := s.DeleteExpired(ctx, cutoff, 100)
		must(t, err, "DeleteExpired")
		if n < 5 {
			t.Fatalf("DeleteExpired removed %d rows, want at least the 5 expired ones", n)
		}
		n, err = s.DeleteExpired(ctx, cutoff, 100)
		must(t, err, "second DeleteExpired")
		if n != 0 {
			t.Fatalf("second DeleteExpired removed %d rows, want 0", n)
		}

		// Read at base, when every row was live: only deletion explains
		// ErrNotFound.
		_, err = s.QRLogin(ctx, oldLogin.ID)
		wantErr(t, err, storage.ErrNotFound, "QRLogin(expired)")
		wantSame(t, getLogin(t, s, newLogin2.ID), newLogin2, "QRLogin(live)")
		_, err = s.AuthRequest(ctx, oldReq.ID, base)
		wantErr(t, err, storage.ErrNotFound, "AuthRequest(expired)")
		got, err := s.AuthRequest(ctx, newReq.ID, base)
		must(t, err, "AuthRequest(live)")
		wantSame(t, got, newReq, "AuthRequest(live)")
		wantAccess(t, s, oldAT.ID, nil)
		wantAccess(t, s, newAT.ID, newAT)
		_, err = s.RefreshTokenByHash(ctx, oldRT.TokenHash)
		wantErr(t, err, storage.ErrNotFound, "RefreshTokenByHash(expired)")
		wantRefresh(t, s, newRT, false)
		_, err = s.AdminToken(ctx, oldAdm.AccessHash, base)
		wantErr(t, err, storage.ErrNotFound, "AdminToken(expired)")
		adm, err := s.AdminToken(ctx, newAdm.AccessHash, base)
		must(t, err, "AdminToken(live)")
		wantSame(t, adm, newAdm, "AdminToken(live)")
	}},
	{"times round-trip in UTC, truncated to the microsecond", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		// 999 ns past a microsecond: rounding would give the next one.
		odd := time.Date(2026, time.November, 21, 15, 0, 0, 123456999, zone)
		wantTime := func(got time.Time, what string) {
			t.Helper()
			want := time.Date(2026, time.November, 21, 9, 30, 0, 123456000, time.UTC)
			if !got.Equal(want) || got.Location() != time.UTC {
				t.Fatalf("%s = %v (%v), want %v in UTC", what, got, got.Location(), want)
			}
		}
		c := newClient("c-odd", odd)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		gc, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		wantTime(gc.CreatedAt, "Client.CreatedAt")

		l := newLogin(1)
		l.CreatedAt = odd
		l.ExpiresAt = odd.Add(qrTTL)
		createLogin(t, s, l)
		gl := getLogin(t, s, l.ID)
		wantTime(gl.CreatedAt, "QRLogin.CreatedAt")
		wantTime(gl.ExpiresAt.Add(-qrTTL), "QRLogin.ExpiresAt-qrTTL")
		for name, z := range map[string]time.Time{"ScannedAt": gl.ScannedAt, "DecidedAt": gl.DecidedAt,
			"RedeemedAt": gl.RedeemedAt, "TicketExpiresAt": gl.TicketExpiresAt} {
			if !z.IsZero() {
				t.Fatalf("unset QRLogin.%s reads back as %v, want the zero time", name, z)
			}
		}
		sc, err := scanAt(t, s, l.ID, alice, goodTicket, odd.Add(time.Second))
		must(t, err, "scan")
		wantTime(sc.ScannedAt.Add(-time.Second), "ScannedAt-1s (returned)")
		wantTime(getLogin(t, s, l.ID).ScannedAt.Add(-time.Second), "ScannedAt-1s (stored)")

		a := newAccessToken("at-odd", "session-1", "", alice, clientRP)
		a.CreatedAt, a.ExpiresAt = odd, odd.Add(time.Hour)
		createAccess(t, s, a)
		ga, err := s.AccessToken(ctx, a.ID, odd)
		must(t, err, "AccessToken")
		wantTime(ga.CreatedAt, "AccessToken.CreatedAt")
	}},
	{"returned values are copies: mutating them changes nothing stored", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()

		c, err := s.Client(ctx, clientRP)
		must(t, err, "Client")
		c.RedirectURIs[0], c.SecretHash[0], c.GrantTypes[0] = "https://evil.example/cb", c.SecretHash[0]^0xff, "evil"
		list, err := s.ListClients(ctx)
		must(t, err, "ListClients")
		for _, cl := range list {
			cl.RedirectURIs = append(cl.RedirectURIs[:0], "https://evil.example/cb")
		}
		fresh, err := s.Client(ctx, clientRP)
		must(t, err, "Client")
		wantSame(t, fresh.RedirectURIs, []string{"https://rp.example/cb"}, "RedirectURIs")
		wantSame(t, fresh.SecretHash, storage.Hash("rp-secret"), "SecretHash")
		wantSame(t, fresh.GrantTypes, []string{"urn:qrlogin:params:oauth:grant-type:qr"}, "GrantTypes")

		l := createLogin(t, s, newLogin(1))
		gl := getLogin(t, s, l.ID)
		gl.Scopes[0], gl.QRIDHash[0] = "admin", gl.QRIDHash[0]^0xff
		byQR, err := s.QRLoginByQRIDHash(ctx, l.QRIDHash)
		must(t, err, "QRLoginByQRIDHash after mutating a returned copy")
		wantSame(t, byQR, l, "QRLogin")
		ev := auditEvents(t, s, l.ID)
		ev[0].Event = "tampered"
		wantSame(t, auditEvents(t, s, l.ID)[0].Event, "created", "audit event")

		a := newAuthRequest(1)
		a.MaxAge = uintPtr(60)
		mustCreateAuthRequest(t, s, a)
		ga, err := s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		*ga.MaxAge, ga.Scopes[0], ga.Prompt[0] = 0, "admin", "none"
		ga, err = s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, ga, a, "AuthRequest")

		r := createRefresh(t, s, newRefreshToken("rt-1", "session-1", alice, clientRP))
		gr, err := s.RefreshTokenByHash(ctx, r.TokenHash)
		must(t, err, "RefreshTokenByHash")
		gr.AMR[0], gr.Scopes[0], gr.TokenHash[0] = "pwd", "admin", gr.TokenHash[0]^0xff
		wantRefresh(t, s, r, false)

		k := newSigningKey("k-1", base)
		must(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
		keys, err := s.SigningKeys(ctx)
		must(t, err, "SigningKeys")
		keys[0].PrivateKey[0] ^= 0xff
		keys, err = s.SigningKeys(ctx)
		must(t, err, "SigningKeys")
		wantSame(t, keys, []*storage.SigningKey{k}, "SigningKeys")

		sec, err := s.Secret(ctx, "k", func() []byte { return []byte("secret") })
		must(t, err, "Secret")
		sec[0] = 'X'
		sec, err = s.Secret(ctx, "k", func() []byte { return []byte("other") })
		must(t, err, "Secret")
		wantSame(t, string(sec), "secret", "Secret")
	}},
	{"stored values are copies of the input: mutating it afterwards changes nothing stored", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()

		c := newClient("c-1", base)
		must(t, s.CreateClient(ctx, c), "CreateClient")
		want := *newClient("c-1", base)
		c.RedirectURIs[0], c.SecretHash[0] = "https://evil.example/cb", c.SecretHash[0]^0xff
		gc, err := s.Client(ctx, c.ID)
		must(t, err, "Client")
		wantSame(t, gc, &want, "Client")

		l := newLogin(1)
		createLogin(t, s, l)
		wantLogin := newLogin(1)
		l.Scopes[0], l.QRIDHash[0] = "admin", l.QRIDHash[0]^0xff
		wantSame(t, getLogin(t, s, l.ID), wantLogin, "QRLogin")

		scan := &storage.Attempt{Event: storage.EventScan, ID: l.ID, Subject: alice, Session: sessionOf(alice),
			NewTicketHash: ticketHash(l.ID, goodTicket), TicketExpiresAt: at(scanAfter + ticketTTL), IP: scanIP, Now: at(scanAfter)}
		_, err = s.ApplyQR(ctx, scan)
		must(t, err, "scan")
		scan.NewTicketHash[0] ^= 0xff
		_, err = s.QRLoginByTicketHash(ctx, ticketHash(l.ID, goodTicket))
		must(t, err, "QRLoginByTicketHash after mutating the scan's ticket hash")

		a := newAuthRequest(1)
		a.MaxAge = uintPtr(60)
		mustCreateAuthRequest(t, s, a)
		*a.MaxAge, a.Scopes[0] = 0, "admin"
		wantReq := newAuthRequest(1)
		wantReq.MaxAge = uintPtr(60)
		ga, err := s.AuthRequest(ctx, a.ID, base)
		must(t, err, "AuthRequest")
		wantSame(t, ga, wantReq, "AuthRequest")

		gen := []byte("secret")
		_, err = s.Secret(ctx, "k", func() []byte { return gen })
		must(t, err, "Secret")
		gen[0] = 'X'
		sec, err := s.Secret(ctx, "k", func() []byte { return []byte("other") })
		must(t, err, "Secret")
		wantSame(t, string(sec), "secret", "Secret")
	}},
}
