package main

import (
	"flag"
	"runtime"
	"time"

	"github.com/qrlogin/qrlogin/idp"
)

// limitConfig is what serve's limit flags set (README "Security" lists
// every limit, its default and what a client sees past it).
type limitConfig struct {
	rateLimit          float64
	clientRateLimit    float64
	passwordAttempts   int
	passwordLockout    time.Duration
	passwordLockoutMax time.Duration
	hashConcurrency    int
	hashWait           time.Duration
	maxHeldPolls       int
	maxConnsPerAddress int
	maxConns           int
}

func limitFlags(fs *flag.FlagSet) *limitConfig {
	l := &limitConfig{}
	fs.Float64Var(&l.rateLimit, "rate-limit", 20,
		"requests/s per address (IPv6: per /64) on /authorize, /login, public clients' /qr/authorize, and per account on /qr/scan; burst twice that; negative disables")
	fs.Float64Var(&l.clientRateLimit, "client-rate-limit", 1000,
		"a confidential client's default quota at /qr/authorize, requests/s (burst twice that); the admin sets one per client")
	fs.IntVar(&l.passwordAttempts, "password-attempts", 5, "wrong passwords an account may take before it is locked")
	fs.DurationVar(&l.passwordLockout, "password-lockout", time.Minute, "first lockout of an account; each further wrong password doubles it")
	fs.DurationVar(&l.passwordLockoutMax, "password-lockout-max", time.Hour, "longest lockout of an account")
	fs.IntVar(&l.hashConcurrency, "hash-concurrency", 2*runtime.GOMAXPROCS(0), "argon2id checks (19 MiB each) running at once; eight times as many may wait")
	fs.DurationVar(&l.hashWait, "hash-wait", 2*time.Second, "longest wait for an argon2id slot; then 503 with Retry-After")
	fs.IntVar(&l.maxConnsPerAddress, "max-conns-per-address", 256,
		"open connections per address (IPv6: per /64) on the public listener; past it 429 and close; trusted proxies are exempt; 0: no bound")
	fs.IntVar(&l.maxConns, "max-conns", 0,
		"open connections in all on the public listener; at the bound new ones wait in the kernel's backlog (0: the open-file limit less a quarter, at most 1,024, kept for the database and files)")
	fs.IntVar(&l.maxHeldPolls, "max-held-polls", 10000,
		"long-polls held at once by this instance (token endpoint and login pages); past it a long-poll is answered at once")
	return l
}

// listener is the public listener's bounds: tls says whether it serves
// TLS (a refused connection is then closed without an answer, as its
// client expects a handshake).
func (l *limitConfig) listener(tls bool) idp.ListenerLimits {
	ll := idp.ListenerLimits{PerAddress: l.maxConnsPerAddress, Total: l.maxConns, Refusal: idp.RefusalHTTP}
	if tls {
		ll.Refusal = nil
	}
	if ll.Total == 0 {
		ll.Total = connectionBudget(openFileLimit())
	}
	return ll
}

// connectionBudget is the default bound on open connections for an
// open-file limit: all of it but a reserve (a quarter, at most 1,024) for
// the database pool, the admin listener and files. An unknown limit
// leaves connections unbounded in all (the per-address bound stays).
func connectionBudget(nofile int) int {
	if nofile <= 0 {
		return 0
	}
	return max(nofile-min(nofile/4, 1024), 1)
}

// apply copies the limits into the provider's configuration.
func (l *limitConfig) apply(c *idp.Config) {
	c.RateLimit = l.rateLimit
	c.ClientRateLimit = l.clientRateLimit
	c.PasswordAttempts = l.passwordAttempts
	c.PasswordLockout = l.passwordLockout
	c.PasswordLockoutMax = l.passwordLockoutMax
	c.HashConcurrency = l.hashConcurrency
	c.HashWait = l.hashWait
	c.MaxHeldPolls = l.maxHeldPolls
}
