package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// runPassword changes the signed-in user's password (POST
// /account/password). The current and the new password are the first two
// lines of standard input, so neither shows in ps. This phone stays signed
// in; every other session of the account is signed out by the server.
func runPassword(ctx context.Context, e *environment, args []string) error {
	fs, g := newFlagSet("password", e)
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: password takes no arguments; give the current and the new password on two lines of stdin", errUsage)
	}
	if err := g.resolve(e.getenv); err != nil {
		return err
	}
	sc := bufio.NewScanner(io.LimitReader(e.stdin, 8192))
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if len(lines) < 2 || lines[0] == "" || lines[1] == "" {
		return fmt.Errorf("%w: give the current password and the new one on the first two lines of stdin", errUsage)
	}
	s, err := openSession(e, g)
	if err != nil {
		return err
	}
	body := map[string]string{"current_password": lines[0], "new_password": lines[1]}
	if err := s.call(ctx, "POST", "/account/password", body, nil); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == "forbidden" {
			return errors.New("the current password is wrong; the password was not changed")
		}
		return err
	}
	fmt.Fprintln(e.stdout, "Password changed. This phone stays signed in; every other session of the account was signed out.")
	return nil
}
