package load

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Floods: the attacks of issue 8, replayed against a running server to
// see what it keeps in memory under them and what a client is answered.
// Unlike Logins and Polls they measure no throughput: each sends a fixed
// amount of hostile traffic, watches the server's resident memory while it
// lasts (Memory), and counts the answers.

// Flood cases, in the order FloodCases lists them.
const (
	FloodAuthorize = "authorize" // /authorize with the largest state, and with a 900 KB one
	FloodPolls     = "polls"     // /login/status long-polls on one cookie
	FloodConns     = "conns"     // idle connections from one address
	FloodPasswords = "passwords" // over-long passwords, wrong ones for one account, unknown usernames
	// FloodHeld is no attack and not in FloodCases (so not in "all"):
	// issue 9's memory goal, many token-endpoint long-polls held at once,
	// each on its own login. The server must allow them (--max-conns,
	// --max-conns-per-address, --max-held-polls, its client's quota).
	FloodHeld = "held"
)

// FloodCases are the cases, in order.
var FloodCases = []string{FloodAuthorize, FloodPolls, FloodConns, FloodPasswords}

// FloodConfig is one flood run. Zero values are not defaults: the command
// fills every field.
type FloodConfig struct {
	Issuer   string // every request goes there and nowhere else
	ClientID string // a registered client, for /authorize
	// ClientSecret is ClientID's secret, for the held case's
	// /qr/authorize and token requests.
	ClientSecret string
	RedirectURI  string // one of its redirect URIs
	Username     string // an account to send wrong passwords for
	// Sources are the local addresses traffic comes from, round-robin
	// (loopback targets only: 127.0.0.0/8 all reach lo); empty: the
	// system's choice.
	Sources []netip.Addr
	// Count is how many requests, long-polls or connections the case
	// sends; 0 takes the case's figure from issue 8.
	Count int
	// Hold is how long the held traffic (long-polls, connections) is kept
	// open before it is released.
	Hold time.Duration
	// Memory reads the server's resident memory; nil: no memory figures.
	Memory func() (MemoryUse, error)
	// Metrics reads the server's counters (ScrapeMetrics); nil: none.
	Metrics func() (map[string]float64, error)
}

// MemoryUse is the server process's memory as the kernel reports it.
type MemoryUse struct {
	RSS  int64 // bytes resident now (VmRSS)
	Peak int64 // the process's peak resident memory so far (VmHWM); 0 if unknown
}

// FloodResult is what one case did and saw.
type FloodResult struct {
	Case    string
	What    string         // the traffic sent, in words
	Answers map[string]int // what came back ("429", "held", "dial error", …) → count
	Probe   string         // a request of another address during the flood: its answer and time
	Before  MemoryUse      // before the case
	Max     int64          // the largest RSS sampled while the case ran
	After   MemoryUse      // when the case ended (its traffic released)
	Elapsed time.Duration
	// Refused is what the server counted, by limit, while the case ran
	// (qrlogin_rate_limited_total); MaxHeld the most long-polls it held
	// (qrlogin_long_polls). Empty without FloodConfig.Metrics.
	Refused map[string]int
	MaxHeld int
}

// FloodCase runs one case.
func FloodCase(ctx context.Context, cfg FloodConfig, name string) (*FloodResult, error) {
	base := strings.TrimSuffix(cfg.Issuer, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an http(s) URL", cfg.Issuer)
	}
	f := &flood{cfg: cfg, base: base, host: u.Host, res: &FloodResult{Case: name, Answers: map[string]int{}}}
	var run func(context.Context) error
	switch name {
	case FloodAuthorize:
		run = f.authorize
	case FloodPolls:
		run = f.polls
	case FloodConns:
		run = f.conns
	case FloodPasswords:
		run = f.passwords
	case FloodHeld:
		run = f.held
	default:
		return nil, fmt.Errorf("unknown flood case %q (want one of %s)", name, strings.Join(FloodCases, ", "))
	}
	if cfg.Memory != nil {
		if f.res.Before, err = cfg.Memory(); err != nil {
			return nil, fmt.Errorf("reading the server's memory: %w", err)
		}
		f.res.Max = f.res.Before.RSS
		stop := f.sample(ctx)
		defer stop()
	}
	var before map[string]float64
	if cfg.Metrics != nil {
		if before, err = cfg.Metrics(); err != nil {
			return nil, fmt.Errorf("reading the server's metrics: %w", err)
		}
		f.res.Refused = map[string]int{}
	}
	begin := time.Now()
	err = run(ctx)
	f.res.Elapsed = time.Since(begin)
	if cfg.Metrics != nil {
		if after, merr := cfg.Metrics(); merr == nil {
			for k, v := range after {
				if limit, ok := strings.CutPrefix(k, `qrlogin_rate_limited_total{limit="`); ok && v > before[k] {
					f.res.Refused[strings.TrimSuffix(limit, `"}`)] = int(v - before[k])
				}
			}
		}
	}
	if cfg.Memory != nil {
		f.res.After, _ = cfg.Memory()
		f.mu.Lock()
		f.res.Max = max(f.res.Max, f.res.After.RSS)
		f.mu.Unlock()
	}
	return f.res, err
}

type flood struct {
	cfg  FloodConfig
	base string
	host string
	res  *FloodResult

	mu   sync.Mutex // guards res.Answers and res.Max
	next atomic.Uint64
}

func (f *flood) count(answer string) {
	f.mu.Lock()
	f.res.Answers[answer]++
	f.mu.Unlock()
}

// sample records the server's largest RSS every 20 ms until stopped.
func (f *flood) sample(ctx context.Context) (stop func()) {
	return every(ctx, 20*time.Millisecond, func() {
		if m, err := f.cfg.Memory(); err == nil {
			f.mu.Lock()
			f.res.Max = max(f.res.Max, m.RSS)
			f.mu.Unlock()
		}
	})
}

// watchHeld records the most long-polls the server held, every 100 ms
// until stopped.
func (f *flood) watchHeld(ctx context.Context) (stop func()) {
	if f.cfg.Metrics == nil {
		return func() {}
	}
	return every(ctx, 100*time.Millisecond, func() {
		if m, err := f.cfg.Metrics(); err == nil {
			f.mu.Lock()
			f.res.MaxHeld = max(f.res.MaxHeld, int(m["qrlogin_long_polls"]))
			f.mu.Unlock()
		}
	})
}

// every calls fn every d until stopped (or ctx ends); stop waits for the
// last call to return.
func every(ctx context.Context, d time.Duration, fn func()) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// source is the next local address to send from (the zero Addr: any).
func (f *flood) source() netip.Addr {
	if len(f.cfg.Sources) == 0 {
		return netip.Addr{}
	}
	return f.cfg.Sources[f.next.Add(1)%uint64(len(f.cfg.Sources))]
}

func dialer(src netip.Addr) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	return d
}

// clients returns one HTTP client per source address sharing jar (nil:
// no cookies); redirects are never followed.
func (f *flood) clients(jar http.CookieJar, perHost int) []*http.Client {
	srcs := f.cfg.Sources
	if len(srcs) == 0 {
		srcs = []netip.Addr{{}}
	}
	out := make([]*http.Client, len(srcs))
	for i, src := range srcs {
		out[i] = &http.Client{Jar: jar, Timeout: time.Minute,
			Transport: &http.Transport{Proxy: nil, DialContext: dialer(src).DialContext, MaxIdleConnsPerHost: perHost,
				MaxConnsPerHost: perHost, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return out
}

func closeIdle(hcs []*http.Client) {
	for _, hc := range hcs {
		hc.CloseIdleConnections()
	}
}

// get sends a GET and reads the answer in full; the answer's key is its
// status code, or the error's kind.
func get(ctx context.Context, hc *http.Client, u string) (string, []byte, *http.Response) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "request error", nil, nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return errorKind(err), nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return strconv.Itoa(resp.StatusCode), b, resp
}

func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case strings.Contains(err.Error(), "too many open files"):
		return "client out of file descriptors"
	default:
		return "transport error"
	}
}

// probe times one discovery request from the last source address (or
// 127.0.0.254 when there are several), while the case's traffic lasts.
func (f *flood) probe(ctx context.Context) {
	src := netip.Addr{}
	if len(f.cfg.Sources) > 0 {
		src = netip.MustParseAddr("127.0.0.254")
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: dialer(src).DialContext}}
	defer hc.CloseIdleConnections()
	begin := time.Now()
	status, _, _ := get(ctx, hc, f.base+"/.well-known/openid-configuration")
	f.res.Probe = fmt.Sprintf("another address during the flood: %s in %s", status, time.Since(begin).Round(time.Millisecond))
}

// parallel runs work(i) for i in [0, n) on up to width goroutines.
func parallel(n, width int, work func(i int)) {
	var wg sync.WaitGroup
	var next atomic.Int64
	for range min(n, width) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				work(int(i))
			}
		})
	}
	wg.Wait()
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func (f *flood) authorizeURL(state string) string {
	sum := sha256.Sum256([]byte(rand.Text()))
	return f.base + "/authorize?" + url.Values{"client_id": {f.cfg.ClientID}, "redirect_uri": {f.cfg.RedirectURI},
		"response_type": {"code"}, "scope": {"openid"}, "state": {state}, "nonce": {rand.Text()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
}

// authorize: issue 8 sent 400 requests with a 900 KB state (632 MB on the
// memory store's heap). This sends Count of those from every source, then
// Count with the largest state the server keeps (2,048 bytes) from one.
func (f *flood) authorize(ctx context.Context) error {
	n := orDefault(f.cfg.Count, 400)
	f.res.What = fmt.Sprintf("%d × /authorize with a 900 KB state from %d addresses, then %d with a 2 KB state from one", n, max(1, len(f.cfg.Sources)), n)
	hcs := f.clients(nil, 8)
	defer closeIdle(hcs)
	huge := f.authorizeURL(strings.Repeat("s", 900<<10))
	parallel(n, 16, func(i int) {
		st, _, _ := get(ctx, hcs[i%len(hcs)], huge)
		f.count("900 KB state: " + st)
	})
	long := strings.Repeat("s", 2048)
	parallel(n, 16, func(int) {
		st, _, _ := get(ctx, hcs[0], f.authorizeURL(long))
		f.count("2 KB state: " + st)
	})
	f.probe(ctx)
	return nil
}

// loginPage opens a login page for a new authorization request in a
// fresh cookie jar and returns the jar and the page's status URL.
func (f *flood) loginPage(ctx context.Context) (http.CookieJar, string, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	u := f.authorizeURL("flood")
	for range 5 { // /authorize → /login (a redirect or two on this host)
		st, _, resp := get(ctx, hc, u)
		if resp == nil {
			return nil, "", fmt.Errorf("opening a login page: %s", st)
		}
		if resp.StatusCode/100 == 3 {
			loc, err := resp.Location()
			if err != nil || loc.Host != f.host {
				return nil, "", fmt.Errorf("opening a login page: redirected away from the server (%s)", resp.Header.Get("Location"))
			}
			u = loc.String()
			continue
		}
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/login" {
			return nil, "", fmt.Errorf("opening a login page: %d at %s (is --client-id registered with --redirect-uri?)", resp.StatusCode, resp.Request.URL.Path)
		}
		id := resp.Request.URL.Query().Get("id")
		return jar, f.base + "/login/status?id=" + url.QueryEscape(id) + "&since=pending", nil
	}
	return nil, "", errors.New("opening a login page: too many redirects")
}

// polls: issue 8 held 10,000 /login/status long-polls on one cookie (RSS
// 24 → 479 MB). This sends Count of them at once from the sources, keeps
// what the server holds for Hold, then cuts them.
func (f *flood) polls(ctx context.Context) error {
	n := orDefault(f.cfg.Count, 10000)
	jar, statusURL, err := f.loginPage(ctx)
	if err != nil {
		return err
	}
	f.res.What = fmt.Sprintf("%d concurrent /login/status long-polls on one cookie, from %d addresses, kept %s", n, max(1, len(f.cfg.Sources)), f.cfg.Hold)
	perHost := n/max(1, len(f.cfg.Sources)) + 1
	hcs := f.clients(jar, perHost)
	defer closeIdle(hcs)
	return f.holdAll(ctx, n, func(held context.Context, i int) string {
		st, body, _ := get(held, hcs[i%len(hcs)], statusURL)
		switch {
		case st == "cancelled":
			return "unanswered until cut (held, or waiting for a connection)"
		case st == "429" && strings.Contains(string(body), "too many connections"):
			return "429 from the listener (connections per address)"
		case st == "429":
			return "429 from /login/status (held long-polls)"
		}
		return st
	})
}

// holdAll sends n long-polls at once (poll(held, i) sends the i-th and
// says what became of it; "" counts nothing), watches how many the server
// holds, keeps them for Hold, probes the server from another address,
// then cuts them and waits for every answer.
func (f *flood) holdAll(ctx context.Context, n int, poll func(held context.Context, i int) string) error {
	held, cut := context.WithCancel(ctx)
	defer cut()
	stopWatching := f.watchHeld(ctx)
	defer stopWatching()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if st := poll(held, i); st != "" {
				f.count(st)
			}
		})
	}
	if err := sleep(ctx, f.cfg.Hold); err != nil {
		return err
	}
	f.probe(ctx)
	cut()
	wg.Wait()
	return nil
}

// held: Count QR logins started at /qr/authorize (no image), then one
// token-endpoint long-poll (wait=30) on each from the sources, kept for
// Hold, then cut: the server's memory per held long-poll.
func (f *flood) held(ctx context.Context) error {
	n := orDefault(f.cfg.Count, 10000)
	f.res.What = fmt.Sprintf("%d QR logins, one token-endpoint long-poll (wait=30) on each, from %d addresses, kept %s", n, max(1, len(f.cfg.Sources)), f.cfg.Hold)
	perHost := n/max(1, len(f.cfg.Sources)) + 1
	hcs := f.clients(nil, perHost)
	defer closeIdle(hcs)
	send := func(ctx context.Context, hc *http.Client, path string, form url.Values) (string, []byte) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.base+path, strings.NewReader(form.Encode()))
		if err != nil {
			return "request error", nil
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
		resp, err := hc.Do(req)
		if err != nil {
			return errorKind(err), nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return strconv.Itoa(resp.StatusCode), b
	}
	codes := make([]string, n)
	parallel(n, 32, func(i int) {
		st, body := send(ctx, hcs[i%len(hcs)], "/qr/authorize", url.Values{"scope": {"openid"}, "qr_image": {"false"}})
		var started struct {
			DeviceCode string `json:"device_code"`
		}
		if st != "200" || json.Unmarshal(body, &started) != nil || started.DeviceCode == "" {
			f.count("/qr/authorize " + st)
			return
		}
		codes[i] = started.DeviceCode
	})
	return f.holdAll(ctx, n, func(held context.Context, i int) string {
		if codes[i] == "" { // its start failed, counted above
			return ""
		}
		st, body := send(held, hcs[i%len(hcs)], "/oauth/token",
			url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {codes[i]}, "wait": {"30"}})
		switch {
		case st == "cancelled":
			return "held until cut"
		case strings.Contains(string(body), "authorization_pending"):
			return "answered authorization_pending (not held)"
		}
		return st
	})
}

// conns: issue 8 opened 19,900 idle keep-alive connections from one
// address and the server ran out of file descriptors. This opens Count
// connections from the first source, each sending one request and then
// staying idle, keeps them for Hold, and says what became of each.
func (f *flood) conns(ctx context.Context) error {
	n := orDefault(f.cfg.Count, 19900)
	src := netip.Addr{}
	if len(f.cfg.Sources) > 0 {
		src = f.cfg.Sources[0]
	}
	f.res.What = fmt.Sprintf("%d keep-alive connections from one address, each one request then idle, kept %s", n, f.cfg.Hold)
	d := dialer(src)
	var mu sync.Mutex
	var open []net.Conn
	var readers sync.WaitGroup
	parallel(n, 64, func(int) {
		c, err := d.DialContext(ctx, "tcp", f.host)
		if err != nil {
			f.count("dial: " + errorKind(err))
			return
		}
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
		readers.Go(func() {
			// One request, then the connection stays open and idle, as a
			// browser's keep-alive connection does; a refused connection
			// reads the listener's 429 instead, or is closed unanswered.
			f.count(keepAlive(c, f.host))
		})
	})
	if err := sleep(ctx, f.cfg.Hold); err != nil {
		return err
	}
	f.probe(ctx)
	for _, c := range open {
		c.Close()
	}
	readers.Wait()
	return nil
}

// keepAlive sends one request on c, reads the answer and then waits,
// idle, until c is closed; it says what happened.
func keepAlive(c net.Conn, host string) string {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return "closed by the server before the request"
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	switch {
	case errors.Is(err, net.ErrClosed):
		return "no answer before the flood ended"
	case err != nil:
		return "closed by the server without an answer"
	case resp.StatusCode == http.StatusTooManyRequests:
		resp.Body.Close()
		return "refused: 429 from the listener, closed"
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); errors.Is(err, net.ErrClosed) {
		return "accepted (" + strconv.Itoa(resp.StatusCode) + "), kept alive until the flood ended"
	}
	return "accepted (" + strconv.Itoa(resp.StatusCode) + "), then closed by the server while idle"
}

// passwords: issue 8 ran the dummy argon2id check outside the bound for
// over-long input (152 concurrent: RSS 2.9 GiB). This posts Count
// passwords of 2 KB concurrently, then 60 wrong passwords for one account
// from the sources, then Count wrong passwords for as many unknown
// usernames (each a real check, behind the gate).
func (f *flood) passwords(ctx context.Context) error {
	n := orDefault(f.cfg.Count, 152)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil}}
	_, page, _ := get(ctx, hc, f.base+"/login?return=%2Fdevice")
	hc.CloseIdleConnections()
	m := csrfRe.FindSubmatch(page)
	if m == nil {
		return errors.New("the phone login form has no csrf input")
	}
	csrf := string(m[1])
	f.res.What = fmt.Sprintf("%d concurrent logins with a 2 KB password; 60 wrong passwords for %q from %d addresses; %d wrong passwords for unknown usernames",
		n, f.cfg.Username, max(1, len(f.cfg.Sources)), n)
	hcs := f.clients(jar, 64)
	defer closeIdle(hcs)
	post := func(i int, label, username, password string) {
		form := url.Values{"return": {"/device"}, "csrf": {csrf}, "username": {username}, "password": {password}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hcs[i%len(hcs)].Do(req)
		if err != nil {
			f.count(label + errorKind(err))
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		f.count(label + strconv.Itoa(resp.StatusCode))
	}
	long := strings.Repeat("p", 2048)
	parallel(n, n, func(i int) { post(i, "2 KB password: ", f.cfg.Username, long) })
	parallel(60, 60, func(i int) { post(i, "wrong password, one account: ", f.cfg.Username, "wrong-"+strconv.Itoa(i)) })
	parallel(n, n, func(i int) { post(i, "unknown username: ", "nobody-"+rand.Text(), "guess") })
	f.probe(ctx)
	return nil
}

// ProcMemory reads a local process's memory from /proc/<pid>/status.
func ProcMemory(pid int) func() (MemoryUse, error) {
	return func() (MemoryUse, error) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			return MemoryUse{}, err
		}
		var m MemoryUse
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			f := strings.Fields(v) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				continue
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "VmRSS":
				m.RSS = kb << 10
			case "VmHWM":
				m.Peak = kb << 10
			}
		}
		if m.RSS == 0 {
			return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
		}
		return m, nil
	}
}

// ScrapeMetrics reads a Prometheus text exposition (the admin listener's
// /metrics) into "name{labels}" → value, comments and histograms left out.
func ScrapeMetrics(metricsURL string) func() (map[string]float64, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	return func() (map[string]float64, error) {
		resp, err := hc.Get(metricsURL)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", metricsURL, resp.Status)
		}
		out := map[string]float64{}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' || !strings.HasPrefix(line, "qrlogin_") {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				continue
			}
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
		return out, sc.Err()
	}
}
