package main

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"
)

type browserSession struct {
	ID          string    `json:"id"`
	CreatedAt   time.Time `json:"created_at"`
	LastUsedAt  time.Time `json:"last_used_at"`
	AuthMethods []string  `json:"auth_methods"`
	CanApprove  bool      `json:"can_approve"`
	Browser     requester `json:"browser"`
}

// runSessions lists the browsers signed in to the account at the
// provider, or ends one ("sessions end <id>").
func runSessions(ctx context.Context, e *environment, args []string) error {
	id, end, args := verbArg(args, "end")
	fs, g := newFlagSet("sessions", e)
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 || (end && id == "") {
		return fmt.Errorf("%w: sessions [end <id>]", errUsage)
	}
	if err := g.resolve(e.getenv); err != nil {
		return err
	}
	s, err := openSession(e, g)
	if err != nil {
		return err
	}
	if end {
		if err := s.call(ctx, "DELETE", "/account/sessions/"+url.PathEscape(id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Ended: that browser is signed out.")
		return nil
	}
	var list struct {
		Sessions []browserSession `json:"sessions"`
	}
	if err := s.call(ctx, "GET", "/account/sessions", nil, &list); err != nil {
		return err
	}
	if len(list.Sessions) == 0 {
		fmt.Fprintln(e.stdout, "No browser is signed in to this account.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNED IN\tLAST USED\tBROWSER\tAPPROVES\tID")
	for _, b := range list.Sessions {
		where := sanitize(b.Browser.IP)
		if ua := sanitize(b.Browser.UserAgentSummary); ua != "" {
			where += " " + truncate(ua, 40)
		}
		approves := "no"
		if b.CanApprove {
			approves = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", b.CreatedAt.Local().Format("2006-01-02 15:04"),
			b.LastUsedAt.Local().Format("2006-01-02 15:04"), where, approves, sanitize(b.ID))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nNot you? qrphone sessions end <ID> signs that browser out.")
	return nil
}
