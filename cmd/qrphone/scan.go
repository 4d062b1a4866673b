package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // a photo of a screen
	_ "image/png"  // the provider's qr_image
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"

	"github.com/qrlogin/qrlogin/idp/display"
)

// scanResult is the answer of POST /qr/scan (SPEC §2.3): the confirm screen.
type scanResult struct {
	Ticket    string   `json:"ticket"`
	ExpiresIn int      `json:"expires_in"`
	UserCode  string   `json:"user_code"`
	Scopes    []string `json:"scopes"`
	Client    struct {
		ClientID  string `json:"client_id"`
		Name      string `json:"name"`
		ClientURI string `json:"client_uri"`
	} `json:"client"`
	Requester requester `json:"requester"`
	CreatedAt time.Time `json:"created_at"`
	// MatchChoices: number matching (README "Defences against QR relay"):
	// the confirmation carries the one the PC shows.
	MatchChoices []int `json:"match_choices"`
	Session      struct {
		Default   string `json:"default"`
		Choosable bool   `json:"choosable"`
	} `json:"session"`
	// ProximityPolicy is the client's: off, warn or require (the
	// provider's README, "Defences against QR relay").
	ProximityPolicy string `json:"proximity_policy"`
}

type requester struct {
	IP               string `json:"ip"`
	UserAgent        string `json:"user_agent"`
	UserAgentSummary string `json:"user_agent_summary"`
	ReportedByClient bool   `json:"reported_by_client"`
	// Network compares the requester's network with this phone's:
	// same_address, same_network, same_country, other_country, different
	// or unknown; NetworkSummary in words.
	Network        string `json:"network,omitempty"`
	NetworkSummary string `json:"network_summary,omitempty"`
}

func runScan(ctx context.Context, e *environment, args []string) error {
	fs, g := newFlagSet("scan", e)
	yes := fs.Bool("yes", false, "confirm without asking (after printing the confirm screen)")
	deny := fs.Bool("deny", false, "deny without asking")
	qrTerminal := fs.Bool("qr-terminal", false, "also print the scanned QR code on the terminal, for a real phone")
	number := fs.Int("number", 0, "with --yes, for a site with number matching: the number the PC shows")
	session := fs.String("session", "", "keep (stay signed in) or this_session (only this session), where the site lets you choose")
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: scan takes one argument: a PNG file or the QR text", errUsage)
	}
	if *yes && *deny {
		return fmt.Errorf("%w: --yes and --deny exclude each other", errUsage)
	}
	if *session != "" && *session != "keep" && *session != "this_session" {
		return fmt.Errorf("%w: --session is keep or this_session", errUsage)
	}
	if err := g.resolve(e.getenv); err != nil {
		return err
	}
	text, err := readQR(rest[0])
	if err != nil {
		return err
	}
	s, err := openSession(e, g)
	if err != nil {
		return err
	}
	if *qrTerminal {
		if err := printQR(e.stdout, text); err != nil {
			return err
		}
	}

	var res scanResult
	if err := s.call(ctx, "POST", "/qr/scan", map[string]string{"qr": text}, &res); err != nil {
		return err
	}
	if res.Ticket == "" {
		return errors.New("the provider's scan answer has no ticket")
	}
	printConfirmScreen(e.stdout, &res, e.now())
	body := map[string]any{"ticket": res.Ticket}
	if *session != "" {
		body["session_choice"] = *session
	}
	if len(res.MatchChoices) > 0 && !*deny {
		// Number matching: instead of yes, the number the PC shows. A wrong
		// one cancels the sign-in for good.
		if *yes && *number == 0 {
			return fmt.Errorf("%w: this site asks for the number shown on the PC: pass --number", errUsage)
		}
		n := *number
		if !*yes {
			fmt.Fprintf(e.stdout, "Type the number shown on the PC (%s), or nothing to deny: ", joinInts(res.MatchChoices))
			answer, err := readLine(e.stdin)
			fmt.Fprintln(e.stdout)
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the answer: %w", err)
			}
			n, _ = strconv.Atoi(strings.TrimSpace(answer))
		}
		path, done := "/qr/deny", "Denied. The PC will not be signed in."
		if n != 0 {
			body["match_number"] = n
			path, done = "/qr/confirm", "Confirmed. The PC is being signed in."
		}
		return decide(ctx, e, s, path, done, body)
	}

	confirm := *yes
	if !*yes && !*deny {
		fmt.Fprint(e.stdout, "Confirm sign-in? [y/N] ")
		answer, err := readLine(e.stdin)
		fmt.Fprintln(e.stdout)
		switch {
		case errors.Is(err, io.EOF):
			// Nobody to ask: the safe answer is no, and saying it at once
			// releases the PC instead of leaving it waiting for the expiry.
			fmt.Fprintln(e.stdout, "No answer on stdin: denying.")
		case err != nil:
			return fmt.Errorf("reading the answer: %w", err)
		}
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			confirm = true
		}
	}

	path, done := "/qr/deny", "Denied. The PC will not be signed in."
	if confirm {
		path, done = "/qr/confirm", "Confirmed. The PC is being signed in."
	}
	return decide(ctx, e, s, path, done, body)
}

// decide sends the decision and says what it did.
func decide(ctx context.Context, e *environment, s *session, path, done string, body map[string]any) error {
	var status struct {
		Status string `json:"status"`
	}
	if err := s.call(ctx, "POST", path, body, &status); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, done)
	return nil
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}

func runShow(_ context.Context, e *environment, args []string) error {
	fs, _ := newFlagSet("show", e)
	rest, err := parseFlags(fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fmt.Errorf("%w: show takes one argument: a PNG file or the QR text", errUsage)
	}
	text, err := readQR(rest[0])
	if err != nil {
		return err
	}
	return printQR(e.stdout, text)
}

// maxImagePixels bounds the picture decoded, so a hostile file cannot make
// the decoder allocate gigabytes (a small PNG can claim a huge size).
const maxImagePixels = 4096 * 4096

// readQR returns the QR text in arg: decoded from the image file arg
// names, or arg itself (a URL like <issuer>/q/<qr_id>, or the bare id).
func readQR(arg string) (string, error) {
	if arg == "" {
		return "", fmt.Errorf("%w: the QR argument is empty", errUsage)
	}
	fi, err := os.Stat(arg)
	if err != nil || !fi.Mode().IsRegular() {
		if lower := strings.ToLower(arg); !strings.Contains(arg, "://") &&
			(strings.HasSuffix(lower, ".png") || strings.HasSuffix(lower, ".jpg") || strings.HasSuffix(lower, ".jpeg")) {
			// Looks like a file that is not there: sending its name to the
			// provider as a QR would only answer "unknown QR".
			return "", fmt.Errorf("cannot read the image %s: %v", arg, err)
		}
		return arg, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return decodeQR(f)
}

// decodeQR reads a QR code from an image.
func decodeQR(r io.ReadSeeker) (string, error) {
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return "", fmt.Errorf("not a PNG or JPEG image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxImagePixels {
		return "", fmt.Errorf("the image is %d×%d pixels: too large for a QR code", cfg.Width, cfg.Height)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	img, _, err := image.Decode(r)
	if err != nil {
		return "", fmt.Errorf("decoding the image: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("reading the image: %v", err)
	}
	return decodeBitmap(bmp)
}

// decodeBitmap runs the QR decoder. A panic in it, on an image crafted to
// reach a path its authors did not foresee, is a bad image, not a crash.
func decodeBitmap(bmp *gozxing.BinaryBitmap) (text string, err error) {
	defer func() {
		if recover() != nil {
			text, err = "", errors.New("no QR code found in the image (the decoder failed)")
		}
	}()
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// The finder-pattern detector misses about one in 150 of the
		// provider's own PNGs; read as an unrotated, computer-made code
		// (what a screenshot or the provider's qr_image is), they decode.
		pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true}
		if res, err = gozxingqr.NewQRCodeReader().Decode(bmp, pure); err != nil {
			return "", errors.New("no QR code found in the image")
		}
	}
	return res.GetText(), nil
}

// printQR prints text as a QR code with half-block characters (two modules
// a character), light on dark, for a phone's camera to read off the screen.
func printQR(w io.Writer, text string) error {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("encoding the QR code: %w", err)
	}
	_, err = io.WriteString(w, q.ToSmallString(false))
	return err
}

// scopeText says what each scope a relying party may ask lets it do.
var scopeText = map[string]string{
	"openid":         "sign you in",
	"profile":        "see your name and profile",
	"email":          "see your email address",
	"offline_access": "stay signed in on that device",
}

// printConfirmScreen shows who asks to sign in, from where, for what, and
// the code to compare with the PC's. Every string from the provider is
// sanitized: the requester's user agent may be chosen by an attacker, and
// a terminal escape in it could repaint the screen the user decides on.
func printConfirmScreen(w io.Writer, r *scanResult, now time.Time) {
	fmt.Fprintln(w, "Sign-in request")
	fmt.Fprintln(w, "───────────────")
	name := sanitize(r.Client.Name)
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(w, "  Application:  %s (client_id %s)\n", name, sanitize(r.Client.ClientID))
	if r.Client.ClientURI != "" {
		fmt.Fprintf(w, "  Website:      %s\n", sanitize(r.Client.ClientURI))
	}
	who := "(observed by the server)"
	if r.Requester.ReportedByClient {
		who = "(reported by the client)"
	}
	ip := sanitize(r.Requester.IP)
	if ip == "" {
		ip = "unknown"
	}
	fmt.Fprintf(w, "  Requested by: %s %s\n", ip, who)
	if r.Requester.UserAgentSummary != "" {
		fmt.Fprintf(w, "  Browser:      %s %s\n", sanitize(r.Requester.UserAgentSummary), who)
	}
	if r.Requester.UserAgent != "" {
		fmt.Fprintf(w, "  User agent:   %s\n", sanitize(r.Requester.UserAgent))
	}
	if r.Requester.NetworkSummary != "" {
		fmt.Fprintf(w, "  Network:      %s (compared with this phone's)\n", sanitize(r.Requester.NetworkSummary))
	}
	switch near := r.Requester.Network == "same_address" || r.Requester.Network == "same_network"; {
	case r.ProximityPolicy == "require" && !near:
		fmt.Fprintln(w, "  ! This sign-in cannot be confirmed from here: the application accepts a confirmation")
		fmt.Fprintln(w, "    only from the network of the screen that asked. Confirming denies it.")
	case r.ProximityPolicy != "off" && !near && r.Requester.Network != "" && r.Requester.Network != "unknown":
		fmt.Fprintln(w, "  ! The screen that asked is on another network than this phone. Confirm only if")
		fmt.Fprintln(w, "    you are in front of it; if you are not, deny: someone may be signing in as you.")
	}
	if !r.CreatedAt.IsZero() {
		ago := now.Sub(r.CreatedAt).Round(time.Second)
		fmt.Fprintf(w, "  Time:         %s (%s ago)\n", r.CreatedAt.Local().Format("2006-01-02 15:04:05 MST"), max(ago, 0))
	}
	if len(r.Scopes) > 0 {
		fmt.Fprintln(w, "  It asks to:")
		for _, sc := range r.Scopes {
			if t, ok := scopeText[sc]; ok {
				fmt.Fprintf(w, "    - %s (%s)\n", t, sanitize(sc))
			} else {
				fmt.Fprintf(w, "    - %s\n", sanitize(sc))
			}
		}
	}
	code := sanitize(r.UserCode)
	fmt.Fprintf(w, "\n  Code: %s\n\n", code)
	if big := bigText(code); big != "" {
		fmt.Fprint(w, big, "\n")
	}
	fmt.Fprintln(w, "Compare this code with the one shown beside the QR code on the PC.")
	fmt.Fprintln(w, "Confirm only if they match and you are signing in yourself, right now.")
	if len(r.MatchChoices) > 0 {
		fmt.Fprintf(w, "This site uses number matching: the PC shows one of %s. A wrong number cancels the sign-in.\n", joinInts(r.MatchChoices))
	}
	switch {
	case r.Session.Choosable:
		fmt.Fprintf(w, "Session: %s unless you choose (--session keep or this_session).\n", sessionText[r.Session.Default])
	case r.Session.Default == "this_session":
		fmt.Fprintln(w, "Session: only this session (you will not stay signed in).")
	}
	if r.ExpiresIn > 0 {
		fmt.Fprintf(w, "Decide within %d seconds.\n", r.ExpiresIn)
	}
	fmt.Fprintln(w)
}

var sessionText = map[string]string{"keep": "keep me signed in", "this_session": "only this session"}

// sanitize makes a string from the network safe to print on a terminal:
// what idp/display calls unsafe — control characters (escape sequences,
// carriage returns that overwrite a line), bidirectional overrides (which
// reorder what is shown), invisible characters — becomes a visible
// U+FFFD. It also bounds the length.
func sanitize(s string) string {
	const maxLen = 256
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxLen {
			b.WriteString("…")
			break
		}
		n++
		switch {
		case display.Unsafe(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
