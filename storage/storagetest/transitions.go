package storagetest

import (
	"testing"
	"time"

	"github.com/qrlogin/qrlogin/storage"
)

// The rules of the transitions are checked by the cases generated from the
// table (table.go). These check ApplyQR's mechanism: how an attempt finds
// its login, its bearer token, what a confirmation and a redeem write
// besides the login, and the announcements.

// phoneToken creates a live access token of the first-party app for
// subject, with scope qr:approve, in session.
func phoneToken(t *testing.T, s storage.Store, id, subject, session string) *storage.AccessToken {
	t.Helper()
	tok := newAccessToken(id, session, "", subject, clientApp)
	tok.Scopes = []string{"openid", "qr:approve"}
	return createAccess(t, s, tok)
}

var qrTransitionCases = []testCase{
	{"ApplyQR finds a scan's login by qr id hash and a decision's by the ticket presented", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := createLogin(t, s, newLogin(1))
		a, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventScan, QRIDHash: l.QRIDHash, Subject: alice,
			Session: sessionOf(alice), NewTicketHash: ticketHash(l.ID, goodTicket), TicketExpiresAt: at(scanAfter + ticketTTL),
			IP: scanIP, Now: at(scanAfter)})
		must(t, err, "scan by qr id hash")
		if a.Login.ID != l.ID || a.From != storage.StatusPending || a.Login.Status != storage.StatusScanned {
			t.Fatalf("scan by qr id hash: %+v from %s", a.Login, a.From)
		}
		a, err = s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventConfirm, TicketHash: ticketHash(l.ID, goodTicket),
			Subject: alice, Session: sessionOf(alice), IP: decideIP, Now: at(decideAfter)})
		must(t, err, "confirm by ticket")
		if a.Login.ID != l.ID || a.From != storage.StatusScanned || a.Login.Status != storage.StatusConfirmed {
			t.Fatalf("confirm by ticket: %+v from %s", a.Login, a.From)
		}
	}},
	{"ApplyQR with an unknown key is ErrNotFound and changes nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
		for name, a := range map[string]*storage.Attempt{
			"scan by id": {Event: storage.EventScan, ID: "qrlogin-missing", Subject: alice, Session: sessionOf(alice),
				NewTicketHash: storage.Hash("t"), TicketExpiresAt: at(time.Minute), Now: at(scanAfter)},
			"scan by qr id hash": {Event: storage.EventScan, QRIDHash: storage.Hash("qr-id-missing"), Subject: alice,
				Session: sessionOf(alice), NewTicketHash: storage.Hash("t"), TicketExpiresAt: at(time.Minute), Now: at(scanAfter)},
			"confirm by ticket": {Event: storage.EventConfirm, TicketHash: storage.Hash("ticket-missing"), Subject: alice,
				Session: sessionOf(alice), Now: at(decideAfter)},
			"redeem by id": {Event: storage.EventRedeem, ID: "qrlogin-missing", Now: at(redeemAfter)},
		} {
			_, err := s.ApplyQR(ctx, a)
			wantErr(t, err, storage.ErrNotFound, "ApplyQR("+name+")")
		}
		unchanged(t, s, before, events)
	}},
	{"ApplyQR refuses the events it does not apply, and changes nothing", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
		for _, e := range []storage.Event{storage.EventInvalid, storage.EventVoid, storage.EventExpire, storage.Event(200)} {
			if _, err := s.ApplyQR(t.Context(), &storage.Attempt{Event: e, ID: l.ID, Subject: alice, Now: at(qrTTL + time.Hour)}); err == nil {
				t.Fatalf("ApplyQR(%s) succeeded", e)
			}
			unchanged(t, s, before, events)
		}
	}},
	{"a scan with a bearer token applies only for a live, unbound token of that user with the scope from a first-party client, and binds the token's session", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		phoneToken(t, s, "at-phone", alice, "phone-session-a")
		expired := newAccessToken("at-expired", "phone-session-x", "", alice, clientApp)
		expired.Scopes, expired.ExpiresAt = []string{"qr:approve"}, at(scanAfter)
		createAccess(t, s, expired)
		noScope := createAccess(t, s, newAccessToken("at-noscope", "phone-session-y", "", alice, clientApp))
		thirdParty := newAccessToken("at-rp", "rp-session", "", alice, clientRP)
		thirdParty.Scopes = []string{"qr:approve"}
		createAccess(t, s, thirdParty)
		revoked := phoneToken(t, s, "at-revoked", alice, "phone-session-z")
		must(t, s.RevokeAccessToken(ctx, revoked.ID), "RevokeAccessToken")
		bound := newAccessToken("at-bound", "phone-session-b", "", alice, clientApp)
		bound.Scopes, bound.JKT = []string{"openid", "qr:approve"}, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		createAccess(t, s, bound)

		l := createLogin(t, s, newLogin(1))
		scan := func(token, subject string) *storage.Attempt {
			return &storage.Attempt{Event: storage.EventScan, QRIDHash: l.QRIDHash, Bearer: &storage.Bearer{TokenID: token, Scope: "qr:approve"},
				Subject: subject, Session: "ignored-with-a-bearer", NewTicketHash: ticketHash(l.ID, goodTicket),
				TicketExpiresAt: at(scanAfter + ticketTTL), IP: scanIP, Now: at(scanAfter)}
		}
		before, events := getLogin(t, s, l.ID), auditEvents(t, s, l.ID)
		for name, a := range map[string]*storage.Attempt{
			"unknown token":           scan("at-unknown", alice),
			"expired token":           scan(expired.ID, alice),
			"token without the scope": scan(noScope.ID, alice),
			"third-party token":       scan(thirdParty.ID, alice),
			"revoked token":           scan(revoked.ID, alice),
			"another user's token":    scan("at-phone", bob),
			"DPoP-bound token (RFC 9449 §7.2: no bearer token)": scan(bound.ID, alice),
		} {
			_, err := s.ApplyQR(ctx, a)
			wantErr(t, err, storage.ErrConflict, "scan with "+name)
			unchanged(t, s, before, events)
		}
		got, err := s.ApplyQR(ctx, scan("at-phone", alice))
		must(t, err, "scan with the phone's token")
		wantSame(t, got.Login.ScanSession, "phone-session-a", "ScanSession: the token's session")
		confirm := &storage.Attempt{Event: storage.EventConfirm, TicketHash: ticketHash(l.ID, goodTicket), Subject: alice,
			Bearer: &storage.Bearer{TokenID: "at-phone", Scope: "qr:approve"}, IP: decideIP, Now: at(decideAfter)}
		got, err = s.ApplyQR(ctx, confirm)
		must(t, err, "confirm with the phone's token")
		wantSame(t, got.Login.Status, storage.StatusConfirmed, "status after the confirmation")
	}},
	{"a rescan by the same user issues a new ticket and voids the old one", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		got, err := scanAt(t, s, l.ID, alice, secondTicket, at(scanAfter+5*time.Second))
		must(t, err, "rescan")
		wantSame(t, got.TicketHash, ticketHash(l.ID, secondTicket), "TicketHash after rescan")
		_, err = s.QRLoginByTicketHash(ctx, ticketHash(l.ID, goodTicket))
		wantErr(t, err, storage.ErrNotFound, "QRLoginByTicketHash(old ticket)")
		_, err = s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventConfirm, TicketHash: ticketHash(l.ID, goodTicket),
			Subject: alice, Session: sessionOf(alice), Now: at(decideAfter)})
		wantErrOneOf(t, err, "confirm by the old ticket", storage.ErrNotFound, storage.ErrConflict)
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, secondTicket, at(decideAfter))
		must(t, err, "confirm with the new ticket")
	}},
	{"a rescan by another session of the same user moves the ticket to that session", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		got, err := s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventScan, ID: l.ID, Subject: alice, Session: "second-session",
			NewTicketHash: ticketHash(l.ID, secondTicket), TicketExpiresAt: at(scanAfter + 5*time.Second + ticketTTL), IP: scanIP,
			Now: at(scanAfter + 5*time.Second)})
		must(t, err, "rescan from a second session")
		wantSame(t, got.Login.ScanSession, "second-session", "ScanSession after the rescan")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, secondTicket, at(decideAfter))
		wantErr(t, err, storage.ErrConflict, "confirm by the first session with the second session's ticket")
		_, err = s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventConfirm, ID: l.ID, TicketHash: ticketHash(l.ID, secondTicket),
			Subject: alice, Session: "second-session", IP: decideIP, Now: at(decideAfter)})
		must(t, err, "confirm by the second session")
	}},
	{"a decided login is still found by its spent ticket", func(t *testing.T, s storage.Store) {
		// SPEC §2.3: a second confirm answers 409 qr_already_decided, so the
		// phone's ticket must still lead to the login after it was spent.
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		got, err := s.QRLoginByTicketHash(t.Context(), ticketHash(l.ID, goodTicket))
		must(t, err, "QRLoginByTicketHash(spent ticket)")
		wantSame(t, got, l, "QRLoginByTicketHash(spent ticket)")
	}},
	{"a confirmation records its sign-in notification in the same operation: the client's name, the login's requester and session", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		a := newAuthRequest(1)
		mustCreateAuthRequest(t, s, a)
		hosted := newLogin(2)
		hosted.DeviceCodeHash, hosted.AuthRequestID = nil, a.ID
		createLogin(t, s, hosted)
		for i, l := range []*storage.QRLogin{scannedLogin(t, s, 1), hosted} {
			if l.Status == storage.StatusPending {
				_, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
				must(t, err, "scan")
			}
			id := []string{"n-device", "n-hosted"}[i]
			_, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventConfirm, ID: l.ID, TicketHash: ticketHash(l.ID, goodTicket),
				Subject: alice, Session: sessionOf(alice), IP: decideIP, Now: at(decideAfter), NotificationID: id})
			must(t, err, "confirm")
			session := l.ID
			if l.AuthRequestID != "" {
				session = a.SessionID // the tokens will be the authorization request's
			}
			got, err := s.Notification(ctx, id)
			must(t, err, "Notification")
			wantSame(t, got, &storage.Notification{ID: id, Subject: alice, Kind: storage.NotificationSignIn, ClientID: clientRP,
				ClientName: "Relying Party", RequesterIP: requesterIP, RequesterUserAgent: requesterUA, ReportedByClient: true,
				SessionID: session, CreatedAt: at(decideAfter)}, "the notification of "+l.ID)
		}
		list, err := s.Notifications(ctx, alice, 10)
		must(t, err, "Notifications")
		if len(list) != 2 {
			t.Fatalf("Notifications(alice) = %d entries, want 2", len(list))
		}
	}},
	{"a refused confirmation records no notification", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := scannedLogin(t, s, 1)
		_, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventConfirm, ID: l.ID, TicketHash: ticketHash(l.ID, "ticket-wrong"),
			Subject: alice, Session: sessionOf(alice), IP: decideIP, Now: at(decideAfter), NotificationID: "n-1"})
		wantErr(t, err, storage.ErrConflict, "confirm with a wrong ticket")
		_, err = s.Notification(ctx, "n-1")
		wantErr(t, err, storage.ErrNotFound, "Notification after the refused confirmation")
	}},
	{"a redeem inserts its tokens in the same operation and returns the user; a refused one inserts none", func(t *testing.T, s storage.Store) {
		seed(t, s)
		ctx := t.Context()
		l := confirmedLogin(t, s, 1)
		tokens := func(n string) *storage.Tokens {
			return &storage.Tokens{AccessID: "at-" + n, AccessExpiresAt: at(time.Hour), RefreshID: "rt-" + n,
				RefreshHash: storage.Hash("refresh-" + n), RefreshExpiresAt: at(48 * time.Hour), AMR: []string{"qr"}}
		}
		got, err := s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: redeemIP, Now: at(redeemAfter), Tokens: tokens("won")})
		must(t, err, "redeem")
		u, err := s.User(ctx, alice)
		must(t, err, "User")
		wantSame(t, got.User, u, "the redeem's user")
		access, refresh := tokens("won").For(got.Login, at(redeemAfter))
		wantAccess(t, s, access.ID, access)
		wantRefresh(t, s, refresh, false)

		_, err = s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: l.ID, IP: redeemIP, Now: at(redeemAfter), Tokens: tokens("lost")})
		wantErr(t, err, storage.ErrConflict, "second redeem")
		wantAccess(t, s, "at-lost", nil)
		_, err = s.RefreshTokenByHash(ctx, storage.Hash("refresh-lost"))
		wantErr(t, err, storage.ErrNotFound, "the refused redeem's refresh token")

		noRefresh := confirmedLogin(t, s, 2)
		tk := &storage.Tokens{AccessID: "at-only", AccessExpiresAt: at(time.Hour)}
		got, err = s.ApplyQR(ctx, &storage.Attempt{Event: storage.EventRedeem, ID: noRefresh.ID, Now: at(redeemAfter), Tokens: tk})
		must(t, err, "redeem without refresh token")
		access, _ = tk.For(got.Login, at(redeemAfter))
		wantAccess(t, s, "at-only", access)
	}},
	{"the audit trail lists created, scanned, confirmed and redeemed in order with client, subject and ip", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := confirmedLogin(t, s, 1)
		_, err := redeemAt(t, s, l.ID, redeemIP, at(redeemAfter))
		must(t, err, "redeem")
		wantSame(t, auditEvents(t, s, l.ID), []storage.AuditEvent{
			{QRLoginID: l.ID, Event: "created", ClientID: clientRP, IP: requesterIP, At: base},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter)},
			{QRLoginID: l.ID, Event: "confirmed", ClientID: clientRP, Subject: alice, IP: decideIP, At: at(decideAfter)},
			{QRLoginID: l.ID, Event: "redeemed", ClientID: clientRP, Subject: alice, IP: redeemIP, At: at(redeemAfter)},
		}, "QRAuditEvents")
	}},
	{"the audit trail records a rescan and a denial", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		_, err := scanAt(t, s, l.ID, alice, secondTicket, at(scanAfter+time.Second))
		must(t, err, "rescan")
		_, err = decideAt(t, s, l.ID, storage.StatusDenied, alice, secondTicket, at(decideAfter))
		must(t, err, "deny")
		wantSame(t, auditEvents(t, s, l.ID), []storage.AuditEvent{
			{QRLoginID: l.ID, Event: "created", ClientID: clientRP, IP: requesterIP, At: base},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter)},
			{QRLoginID: l.ID, Event: "scanned", ClientID: clientRP, Subject: alice, IP: scanIP, At: at(scanAfter + time.Second)},
			{QRLoginID: l.ID, Event: "denied", ClientID: clientRP, Subject: alice, IP: decideIP, At: at(decideAfter)},
		}, "QRAuditEvents")
	}},
	{"a decision's audit event records the attempt's detail (the proximity signal), other events none", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := scannedLogin(t, s, 1)
		const detail = "proximity=other_country policy=warn countries=FR/DE"
		_, err := applied(s.ApplyQR(t.Context(), &storage.Attempt{Event: storage.EventConfirm, ID: l.ID,
			TicketHash: ticketHash(l.ID, goodTicket), Subject: alice, Session: sessionOf(alice), IP: decideIP,
			AuditDetail: detail, Now: at(decideAfter)}))
		must(t, err, "confirm")
		events := auditEvents(t, s, l.ID)
		last := events[len(events)-1]
		if last.Event != "confirmed" || last.Detail != detail {
			t.Fatalf("the confirmation's audit event: %+v", last)
		}
		for _, e := range events[:len(events)-1] {
			if e.Detail != "" {
				t.Fatalf("%s carries %q", e.Event, e.Detail)
			}
		}
	}},
	{"a subscriber hears scan, confirmation and redeem with the new status, and nothing once cancelled", func(t *testing.T, s storage.Store) {
		seed(t, s)
		l := createLogin(t, s, newLogin(1))
		ch := make(chan storage.QRChange, 8)
		cancel := s.SubscribeQRLogins(func(c storage.QRChange) {
			if c.ID == l.ID {
				ch <- c
			}
		})
		_, err := scanAt(t, s, l.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan")
		wantChange(t, ch, storage.StatusScanned, "the scan")
		_, err = decideAt(t, s, l.ID, storage.StatusConfirmed, alice, goodTicket, at(decideAfter))
		must(t, err, "confirm")
		wantChange(t, ch, storage.StatusConfirmed, "the confirmation")
		_, err = redeemAt(t, s, l.ID, redeemIP, at(redeemAfter))
		must(t, err, "redeem")
		wantChange(t, ch, storage.StatusRedeemed, "the redeem")
		cancel()
		cancel()
		l2 := createLogin(t, s, newLogin(2))
		_, err = scanAt(t, s, l2.ID, alice, goodTicket, at(scanAfter))
		must(t, err, "scan after cancel")
		select {
		case c := <-ch:
			t.Fatalf("a cancelled subscription heard %+v", c)
		case <-time.After(100 * time.Millisecond):
		}
	}},
}
