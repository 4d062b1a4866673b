package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// newFlagSet returns a flag set whose errors are returned, not fatal.
// Its usage (on -h, --help or a bad flag) goes to stderr.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: qrlogin %s [flags]\n\nflags:\n", name)
		fs.PrintDefaults()
	}
	return fs
}

// errHelp is returned by a command whose flags asked for its usage (-h,
// -help, --help): the usage is printed, nothing else was done, and run
// reports success.
var errHelp = errors.New("help requested")

// envName is the environment fallback of a flag: --qr-ttl → QRLOGIN_QR_TTL.
func envName(flagName string) string {
	return "QRLOGIN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags fills fs from its sources (loadFlags), then resolves the
// secret references (resolveSecrets).
func parseFlags(fs *flag.FlagSet, args []string, env func(string) string) error {
	if err := loadFlags(fs, args, env); err != nil {
		return err
	}
	return resolveSecrets(fs, env)
}

// loadFlags sets every flag from the first source that has it:
//
//  1. the command line;
//  2. its QRLOGIN_* environment variable, when not empty;
//  3. the config file, for a command with a --config flag (serve): the
//     path comes from --config or QRLOGIN_CONFIG;
//  4. the flag's default.
//
// Every source goes through fs.Set, so fs.Visit sees a flag set by any of
// them (serve's explicit).
func loadFlags(fs *flag.FlagSet, args []string, env func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var file map[string]string
	if cf := fs.Lookup("config"); cf != nil {
		if v := env(envName("config")); !set["config"] && v != "" {
			_ = cf.Value.Set(v)
			set["config"] = true
		}
		if path := cf.Value.String(); path != "" {
			var err error
			if file, err = readConfigFile(fs, path); err != nil {
				return err
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		if v := env(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, envName(f.Name), v, e)
			}
		} else if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: config file %s: %s: %v", errUsage, fs.Lookup("config").Value, f.Name, e)
			}
		}
	})
	return err
}

// readConfigFile reads a TOML file whose keys are fs's flag names, all at
// the top level (qr-ttl = "2m", rate-limit = 20, trusted-proxies =
// ["10.0.0.0/8"]), and returns each value in its flag's text form. An
// unknown key, a table or a value of another type is an error, never
// ignored: a typo must not silently leave a default in force.
//
// TOML rather than YAML: no implicit typing (YAML 1.1 reads `no` or
// `off` as false and `1:30` as a number), no significant indentation,
// and BurntSushi/toml has no dependencies of its own.
func readConfigFile(fs *flag.FlagSet, path string) (map[string]string, error) {
	var raw map[string]any
	if _, err := toml.DecodeFile(path, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: config file %s: line %d: %s", errUsage, path, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%w: config file: %v", errUsage, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(raw))
	for _, k := range keys {
		if _, table := raw[k].(map[string]any); table {
			return nil, fmt.Errorf("%w: config file %s: [%s]: tables are not used: every setting is a top-level key", errUsage, path, k)
		}
		if k == "config" || fs.Lookup(k) == nil {
			return nil, fmt.Errorf("%w: config file %s: unknown key %q (keys are the flag names of qrlogin %s)", errUsage, path, k, fs.Name())
		}
		v, err := tomlText(raw[k])
		if err != nil {
			return nil, fmt.Errorf("%w: config file %s: %s: %v", errUsage, path, k, err)
		}
		out[k] = v
	}
	return out, nil
}

// tomlText is a TOML value as a flag would take it on the command line;
// an array is a comma-separated list.
func tomlText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := tomlText(e)
			if err != nil || strings.Contains(s, ",") {
				return "", errors.New("a list takes strings or numbers without commas")
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("tables are not used: every setting is a top-level key")
	default:
		return "", fmt.Errorf("a %T is not a value any flag takes (durations are strings: \"2m\")", v)
	}
}

// secretFlags may be given as references instead of values, from any
// source: "file:/run/secrets/x" (the file's content, one trailing newline
// dropped — Docker and Kubernetes secrets) or "env:NAME" (another
// environment variable). A secret then never sits in the config file or
// in the process's argument list.
var secretFlags = []string{"admin-client-secret", "key-encryption-key", "database-url", "database-password"}

// resolveSecrets replaces the references in fs's secret flags by the
// secrets. Errors name the flag and the file or variable, never a value.
func resolveSecrets(fs *flag.FlagSet, env func(string) string) error {
	for _, name := range secretFlags {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		v, err := resolveSecret(f.Value.String(), env)
		if err != nil {
			return fmt.Errorf("%w: --%s: %v", errUsage, name, err)
		}
		if err := f.Value.Set(v); err != nil {
			return fmt.Errorf("%w: --%s: %v", errUsage, name, err)
		}
	}
	return nil
}

func resolveSecret(v string, env func(string) string) (string, error) {
	switch {
	case strings.HasPrefix(v, "file:"):
		path := strings.TrimPrefix(v, "file:")
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("reading the secret file: %w", err) // *PathError: the path, not the content
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s == "" {
			return "", fmt.Errorf("the secret file %s is empty", path)
		}
		return s, nil
	case strings.HasPrefix(v, "env:"):
		name := strings.TrimPrefix(v, "env:")
		s := env(name)
		if s == "" {
			return "", fmt.Errorf("the environment variable %s is empty or unset", name)
		}
		return s, nil
	}
	return v, nil
}
