package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// command is one subcommand. Each parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, e *environment, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"login":         {"sign in on the hosted login page (authorization code + PKCE)", runLogin},
		"scan":          {"scan a QR (PNG file or its text), show the confirm screen, confirm or deny", runScan},
		"notifications": {"list confirmed sign-ins; 'notifications revoke <id>': this wasn't me", runNotifications},
		"sessions":      {"list the browsers signed in to the account; 'sessions end <id>' signs one out", runSessions},
		"show":          {"print a QR code (PNG file or text) on the terminal", runShow},
		"password":      {"change the account's password (current and new on two lines of stdin); other sessions end", runPassword},
	}
}

// errUsage marks an error the user caused by calling the command wrongly:
// main prints it and exits 2.
var errUsage = errors.New("usage")

// environment is what a subcommand gets from the process: tests build
// their own.
type environment struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// httpClient is used for every request; nil means a client with a
	// timeout.
	httpClient *http.Client
	// now is the clock for token expiry; nil means time.Now.
	now func() time.Time
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qrphone:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runEnv(ctx, &environment{getenv: env, stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

func runEnv(ctx context.Context, e *environment, args []string) error {
	if e.httpClient == nil {
		// A timeout on every request: a provider that stops answering must
		// not hang the terminal. Login's wait for the browser is separate.
		e.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if e.now == nil {
		e.now = time.Now
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(e.stderr, cmds)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	if err := c.run(ctx, e, args[1:]); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil // -h printed the command's flags
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: qrphone <command> [flags] [arguments]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --issuer, --client-id and --token-file; every flag except")
	fmt.Fprintln(w, "--yes and --deny has a QRPHONE_* environment fallback (--issuer → QRPHONE_ISSUER).")
}

// globals are the flags every subcommand takes.
type globals struct {
	issuer    string
	clientID  string
	tokenFile string
}

const (
	defaultIssuer   = "http://localhost:8080"
	defaultClientID = "qrphone"
)

// newFlagSet returns a flag set whose errors are returned, not fatal, with
// the global flags defined on it.
func newFlagSet(name string, e *environment) (*flag.FlagSet, *globals) {
	fs := flag.NewFlagSet("qrphone "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	g := &globals{}
	fs.StringVar(&g.issuer, "issuer", defaultIssuer, "the qrlogin provider's issuer URL")
	fs.StringVar(&g.clientID, "client-id", defaultClientID, "the phone app's client_id")
	fs.StringVar(&g.tokenFile, "token-file", "", "where the tokens are kept (default $XDG_CONFIG_HOME/qrphone/token.json)")
	return fs, g
}

// noEnv lists the flags without an environment fallback: each one decides a
// sign-in, and must be typed for the sign-in it decides.
var noEnv = map[string]bool{"yes": true, "deny": true, "password-stdin": true}

// envName is the environment fallback of a flag: --token-file → QRPHONE_TOKEN_FILE.
func envName(flagName string) string {
	return "QRPHONE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, flags and positional arguments in any order (so
// "scan qr.png --yes" works), then fills every flag not given on the
// command line from its QRPHONE_* environment variable. Command-line flags
// win. It returns the positional arguments; everything after "--" is
// positional.
func parseFlags(fs *flag.FlagSet, args []string, env func(string) string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if strings.HasPrefix(err.Error(), "flag provided but not defined") {
				// A QR id is base64url and may start with "-".
				return nil, fmt.Errorf("%w: %v (an argument starting with - goes after --)", errUsage, err)
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse consumed a "--" that ended the flags; fs.Args then holds
		// only positionals, which cannot be told from a stop at a non-flag
		// argument except by what preceded them.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || noEnv[f.Name] {
			return
		}
		if v := env(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, envName(f.Name), v, e)
			}
		}
	})
	return positional, err
}

// resolve validates the globals and fills the token file's default.
func (g *globals) resolve(env func(string) string) error {
	g.issuer = strings.TrimSuffix(g.issuer, "/")
	if err := checkIssuer(g.issuer); err != nil {
		return fmt.Errorf("%w: --issuer: %v", errUsage, err)
	}
	if g.clientID == "" {
		return fmt.Errorf("%w: --client-id is empty", errUsage)
	}
	if g.tokenFile == "" {
		dir := env("XDG_CONFIG_HOME")
		if dir == "" {
			home := env("HOME")
			if home == "" {
				return fmt.Errorf("%w: neither XDG_CONFIG_HOME nor HOME is set: give --token-file", errUsage)
			}
			dir = filepath.Join(home, ".config")
		}
		g.tokenFile = filepath.Join(dir, "qrphone", "token.json")
	}
	return nil
}
