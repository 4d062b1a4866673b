package main

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"
)

type notification struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // sign_in, password_lockout, qr_wrong_number or qr_second_scan
	// SessionChoice: keep or this_session, for a QR sign-in.
	SessionChoice string    `json:"session_choice"`
	CreatedAt     time.Time `json:"created_at"`
	ClientID      string    `json:"client_id"`
	ClientName    string    `json:"client_name"`
	Requester     requester `json:"requester"`
}

func runNotifications(ctx context.Context, e *environment, args []string) error {
	id, revoke, args := verbArg(args, "revoke")
	fs, g := newFlagSet("notifications", e)
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 || (revoke && id == "") {
		return fmt.Errorf("%w: notifications [revoke <id>]", errUsage)
	}
	if err := g.resolve(e.getenv); err != nil {
		return err
	}
	s, err := openSession(e, g)
	if err != nil {
		return err
	}
	if revoke {
		// "This wasn't me": every token the sign-in created stops working.
		if err := s.call(ctx, "POST", "/account/notifications/"+url.PathEscape(id)+"/revoke", nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Revoked: the session that sign-in created is signed out.")
		return nil
	}

	var list struct {
		Notifications []notification `json:"notifications"`
	}
	if err := s.call(ctx, "GET", "/account/notifications", nil, &list); err != nil {
		return err
	}
	if len(list.Notifications) == 0 {
		fmt.Fprintln(e.stdout, "No sign-ins confirmed with this account.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCLIENT\tREQUESTER\tID")
	for _, n := range list.Notifications {
		who := "observed by the server"
		if n.Requester.ReportedByClient {
			who = "reported by the client"
		}
		req := sanitize(n.Requester.IP)
		if req == "" {
			req = "unknown"
		}
		if ua := sanitize(n.Requester.UserAgentSummary); ua != "" {
			req += " " + truncate(ua, 40)
		}
		what := sanitize(n.ClientName) + " (" + sanitize(n.ClientID) + ")"
		switch n.Kind {
		case "password_lockout":
			what = "WRONG PASSWORDS: password sign-in locked for a while"
		case "qr_wrong_number":
			what = "WRONG NUMBER picked for " + what + ": sign-in cancelled"
		case "qr_second_scan":
			what = "ANOTHER ACCOUNT scanned your QR for " + what + ": sign-in cancelled"
		case "sign_in":
			if n.SessionChoice == "this_session" {
				what += ", only this session"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t%s\n", n.CreatedAt.Local().Format("2006-01-02 15:04:05"),
			what, req, who, sanitize(n.ID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nNot you? qrphone notifications revoke <ID> signs that session out.")
	return nil
}

// verbArg takes "<verb> <id>" out of args. The word after the verb is the
// id whatever its first character: ids are base64url, and one in 64
// starts with "-", which the flag parser would take for a flag.
func verbArg(args []string, verb string) (id string, found bool, rest []string) {
	for i, a := range args {
		if a == verb && i+1 < len(args) {
			return args[i+1], true, append(args[:i:i], args[i+2:]...)
		}
	}
	return "", false, args
}

// truncate shortens s to n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
