package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GrantQR is the project's QR grant (SPEC §2.2).
const GrantQR = "urn:qrlogin:params:oauth:grant-type:qr"

// Steps of a complete login, in the order they happen and are reported.
const (
	StepStart           = "start"             // POST /qr/authorize
	StepScan            = "scan"              // POST /qr/scan
	StepScanToScanned   = "scan-to-scanned"   // scan sent → the PC's long-poll answers scanned
	StepConfirm         = "confirm"           // POST /qr/confirm
	StepConfirmToTokens = "confirm-to-tokens" // confirm sent → the PC's long-poll answers 200 with tokens
	StepTotal           = "total"             // start sent → tokens received, pauses included
	StepPoll            = "poll"              // one poll of a pending login (polls mode)
)

var loginSteps = []string{StepStart, StepScan, StepScanToScanned, StepConfirm, StepConfirmToTokens, StepTotal}

// Config is one bench run. Zero values are not defaults: the command
// fills every field.
type Config struct {
	Issuer                 string        // base URL; every request goes there and nowhere else
	ClientID, ClientSecret string        // the relying party: confidential, allowed the QR grant
	Scope                  string        // requested at /qr/authorize
	QRImage                bool          // ask /qr/authorize for qr_image (the bench never looks at it)
	PhoneClientID          string        // the first-party phone app (public client)
	PhoneRedirectURI       string        // registered for the phone app; sent, never followed
	Username, Password     string        // the user the phone signs in as
	Concurrency            int           // PCs (logins) or polling workers (polls)
	Duration               time.Duration // how long to drive load, after set-up
	Wait                   time.Duration // long-poll of the PC, whole seconds 1–30 (logins)
	ScanDelay              time.Duration // the PC's first long-poll sent → the phone scans (logins)
	ThinkTime              time.Duration // the PC told of the scan → the phone confirms (logins)
	Pending                int           // pending logins to poll round-robin (polls)
	Pace                   bool          // poll each login at most once per interval (polls)
	// VerifyEvery samples the ID tokens whose signature and claims are
	// verified (logins): each PC's first and then one in VerifyEvery of
	// its logins; 1 verifies all, 0 none.
	VerifyEvery int
	CPUProfile  io.Writer // non-nil: a pprof CPU profile of the generator while it drives load
}

// Result is what a run measured. Counts and latencies cover only what
// finished before the run ended; requests cut off at the end are neither
// successes nor errors.
type Result struct {
	Elapsed     time.Duration
	Completed   int                  // complete logins, or polls the server answered as expected
	Steps       map[string]Latencies // sorted samples per step
	Order       []string             // step names in report order
	Answers     map[string]int       // polls: OAuth error code → count (authorization_pending, slow_down, expired_token)
	Errors      map[string]int       // error kind ("scan: 409 qr_already_scanned") → count
	Examples    map[string]string    // error kind → one full message
	RateLimited int                  // errors that were 429 answers
	Late        int                  // logins: scanned answers that came only when the long-poll's wait ran out
	Repolls     int                  // logins: polls sent before the confirm answered scanned again, so the PC polled once more
	Verified    int                  // logins: ID tokens whose signature and claims were verified and good (rejected ones are Errors)
	Interval    time.Duration        // polls: the server's poll interval (RFC 8628 §3.2 interval)
	Pending     int                  // polls: logins created in set-up
	Setup       time.Duration        // polls: time spent creating them
	// CPU is the CPU time, user and system, this process (the load
	// generator) used while it drove load, set-up excluded; CPUKnown says
	// whether the platform reports it. On a machine the generator shares
	// with the server, it is CPU the server did not get.
	CPU      time.Duration
	CPUKnown bool
}

// CPUPerOp is the generator's CPU time per completed operation (login,
// start or poll), or 0 when unknown or nothing completed.
func (r *Result) CPUPerOp() time.Duration {
	if !r.CPUKnown || r.Completed == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Completed)
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// Rate is Completed per second of Elapsed.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Completed) / r.Elapsed.Seconds()
}

// recorder is one worker's tally; workers never share one, so recording
// takes no lock. They are merged when the run ends.
type recorder struct {
	steps    map[string]Latencies
	answers  map[string]int
	errors   map[string]int
	examples map[string]string
	done     int
	late     int
	repolls  int
	verified int
	tokens   int // logins that received tokens: the ID token sample's counter
	limited  int
}

func newRecorder() *recorder {
	return &recorder{steps: map[string]Latencies{}, answers: map[string]int{}, errors: map[string]int{}, examples: map[string]string{}}
}

func (r *recorder) add(step string, d time.Duration) { r.steps[step] = append(r.steps[step], d) }

// fail records err unless the run's end caused it: run has ended, or its
// deadline has passed and its timer not fired yet (a dial's deadline is
// the run's, on a timer of its own: a dial cut by it fails with "i/o
// timeout" before run.Err says so; a server that closes the connection
// after an answer, as after a parked long-poll's, makes dials common).
func (r *recorder) fail(run context.Context, err error) {
	if d, ok := run.Deadline(); run.Err() != nil || ok && !time.Now().Before(d) {
		return
	}
	kind := err.Error()
	var re *requestError
	if errors.As(err, &re) {
		kind = re.kind()
	}
	r.errors[kind]++
	if IsRateLimited(err) {
		r.limited++
	}
	if _, ok := r.examples[kind]; !ok {
		r.examples[kind] = err.Error()
	}
}

func merge(order []string, recs []*recorder) *Result {
	res := &Result{Steps: map[string]Latencies{}, Order: order, Answers: map[string]int{}, Errors: map[string]int{}, Examples: map[string]string{}}
	for _, r := range recs {
		res.Completed += r.done
		res.Late += r.late
		res.Repolls += r.repolls
		res.Verified += r.verified
		res.RateLimited += r.limited
		for k, v := range r.steps {
			res.Steps[k] = append(res.Steps[k], v...)
		}
		for k, v := range r.answers {
			res.Answers[k] += v
		}
		for k, v := range r.errors {
			res.Errors[k] += v
		}
		for k, v := range r.examples {
			res.Examples[k] = v
		}
	}
	for _, l := range res.Steps {
		l.Sort()
	}
	return res
}

// driver holds what every worker shares: read-only after set-up.
type driver struct {
	cfg        Config
	base       string          // the issuer without a trailing slash, for set-up
	hc         *http.Client    // set-up: the phone's sign-in, discovery, keys
	t          *target         // the load: each worker's own conns
	prefix     string          // the issuer's path, before each endpoint's
	clientAuth string          // Authorization header of the relying party
	phoneAuth  string          // Authorization header of the phone app
	interval   time.Duration   // the server's poll interval (polls)
	idTokens   *idTokenChecker // logins, when VerifyEvery > 0
	startBody  []byte
}

func newDriver(cfg Config) (*driver, error) {
	if cfg.Concurrency < 1 {
		return nil, errors.New("concurrency must be at least 1")
	}
	if cfg.Duration <= 0 {
		return nil, errors.New("duration must be positive")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an http(s) URL", cfg.Issuer)
	}
	return &driver{
		cfg:        cfg,
		base:       strings.TrimSuffix(cfg.Issuer, "/"),
		hc:         setupClient(),
		t:          newTarget(u),
		prefix:     strings.TrimSuffix(u.EscapedPath(), "/"),
		clientAuth: basicAuth(cfg.ClientID, cfg.ClientSecret),
		startBody:  []byte(url.Values{"scope": {cfg.Scope}, "qr_image": {strconv.FormatBool(cfg.QRImage)}}.Encode()),
	}, nil
}

// started is the part of /qr/authorize's answer the bench uses.
type started struct {
	DeviceCode string `json:"device_code"`
	QR         string `json:"verification_uri_complete"`
	Interval   int    `json:"interval"`
}

// start begins a QR login as the relying party (SPEC §2.1).
func (d *driver) start(ctx context.Context, c *conn) (*started, error) {
	raw, err := d.call(ctx, c, StepStart, "/qr/authorize", formType, d.clientAuth, d.startBody)
	if err != nil {
		return nil, err
	}
	var s started
	if err := decode(raw, &s); err != nil || s.DeviceCode == "" || s.QR == "" {
		return nil, &requestError{step: StepStart, status: http.StatusOK, code: "no device_code or verification_uri_complete", err: err}
	}
	return &s, nil
}

// pollBody is the token request of the QR grant with the long-poll wait
// in whole seconds (SPEC §2.2).
func pollBody(deviceCode string, wait time.Duration) []byte {
	b := append([]byte(nil), pollGrant...)
	b = append(b, "&device_code="...)
	b = append(b, url.QueryEscape(deviceCode)...)
	b = append(b, "&wait="...)
	return strconv.AppendInt(b, int64(wait/time.Second), 10)
}

var pollGrant = "grant_type=" + url.QueryEscape(GrantQR)

// jsonObject is {"key":"value"}, the phone API's request bodies.
func jsonObject(key, value string) []byte {
	b := append([]byte(`{"`), key...)
	b = append(b, `":`...)
	b = appendJSONString(b, value)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotation
// mark, reverse solidus and control characters escaped, the rest as is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' {
			i++
		}
		b = append(b, s[:i]...) // the run that needs no escape: all of a URL or a ticket
		if i == len(s) {
			break
		}
		if c := s[i]; c < 0x20 {
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, '\\', c)
		}
		s = s[i+1:]
	}
	return append(b, '"')
}

// pollAnswer is one answer of the token endpoint to a QR poll.
type pollAnswer struct {
	sent   time.Time // when the poll left
	at     time.Time // when its answer arrived
	status int
	body   []byte     // 200 only: the token response
	e      oauthError // other answers: the error (RFC 6749 §5.2)
	err    error      // transport error
}

// expectTokens checks that a poll answered with a token response carrying
// an access token and an ID token (SPEC §2.2), and returns the ID token.
func expectTokens(step string, a pollAnswer) (string, error) {
	if a.err != nil {
		return "", &requestError{step: step, err: a.err}
	}
	if a.status != http.StatusOK {
		code := a.e.Error
		if a.e.QRStatus != "" {
			code += " (qr_status " + a.e.QRStatus + ")"
		}
		return "", &requestError{step: step, status: a.status, code: code}
	}
	var t struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	err := decode(a.body, &t)
	switch {
	case err != nil || t.AccessToken == "" || t.IDToken == "":
		return "", &requestError{step: step, status: a.status, code: "no access_token or id_token", err: err}
	}
	return t.IDToken, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWorkers runs n copies of work until ctx ends and merges their
// tallies, with the process's CPU time over the run (and its profile if
// asked for). Set-up done before it is not counted.
func runWorkers(ctx context.Context, cfg Config, order []string, work func(ctx context.Context, rec *recorder)) (*Result, error) {
	recs := make([]*recorder, cfg.Concurrency)
	for i := range recs {
		recs[i] = newRecorder()
	}
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	var wg sync.WaitGroup
	cpu0, known0 := processCPU()
	begin := time.Now()
	for i := range recs {
		wg.Go(func() { work(ctx, recs[i]) })
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpu1, known1 := processCPU()
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	res := merge(order, recs)
	res.Elapsed = elapsed
	res.CPU, res.CPUKnown = cpu1-cpu0, known0 && known1
	return res, nil
}
