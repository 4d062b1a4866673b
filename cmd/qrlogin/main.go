// Command qrlogin is the qrlogin OpenID Connect provider: the server
// (serve), its migrations (migrate) and the admin commands that call the
// admin API (clients, users, keys).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…"; when it
// is not, versionString reads the build's own module version and VCS
// revision.
var version = "dev"

// versionString is the version `qrlogin version` prints: the -ldflags
// value, else the main module's version as the go command recorded it
// (a tag, or a pseudo-version with the commit when built from a checkout),
// else "dev" with the VCS revision when the go command recorded one.
func versionString() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return version
	}
	return version + "-" + rev + dirty
}

// command is one subcommand. Each parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":   {"run the OpenID Connect provider", runServe},
		"migrate": {"apply pending database migrations and exit", runMigrate},
		"clients": {"manage relying parties: create|list|get|delete|rotate-secret", runClients},
		"users":   {"manage users: create|list|delete", runUsers},
		"keys":    {"manage signing keys: rotate|list", runKeys},
		"bench":   {"drive complete QR logins against a running server", runBench},
		"flood":   {"replay issue 8's floods against a running server and report its memory", runFlood},

		"version": {"print the version", runVersion},
	}
}

// errUsage marks an error the user caused by calling the command wrongly:
// main prints it with the usage and exits 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "qrlogin:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	err := dispatchCommand(ctx, args, env, stdout, stderr)
	if errors.Is(err, errHelp) {
		return nil // the usage was asked for, and printed
	}
	return err
}

func dispatchCommand(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = []string{"version"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return fmt.Errorf("%w: no command given", errUsage)
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	return c.run(ctx, args[1:], env, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: qrlogin <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\n`qrlogin <command> --help` shows a command's flags; `qrlogin --version` the version.")
	fmt.Fprintln(w, "\nEvery flag has a QRLOGIN_* environment fallback (--qr-ttl → QRLOGIN_QR_TTL); serve also reads\na TOML file (--config). Command line > environment > file > default.")
}

func runVersion(_ context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	if err := parseFlags(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: version takes no arguments, got %q", errUsage, fs.Args())
	}
	fmt.Fprintln(stdout, "qrlogin", versionString())
	return nil
}
