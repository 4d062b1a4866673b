package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/qrlogin/qrlogin/idp"
)

// netConfig is what serve's proxy and TLS flags set.
type netConfig struct {
	trustedProxies string
	proxyHeader    string
	tlsCert        string
	tlsKey         string
	proxies        []netip.Prefix // parsed from trustedProxies
}

func netFlags(fs *flag.FlagSet) *netConfig {
	n := &netConfig{}
	fs.StringVar(&n.trustedProxies, "trusted-proxies", "",
		"comma-separated CIDRs (or addresses) of reverse proxies whose forwarding header gives the client's address; empty trusts none")
	fs.StringVar(&n.proxyHeader, "proxy-header", idp.HeaderXForwardedFor,
		"the header the trusted proxies write: X-Forwarded-For or Forwarded (RFC 7239)")
	fs.StringVar(&n.tlsCert, "tls-cert", "", "PEM certificate chain: serve the public listener over TLS (reloaded on SIGHUP)")
	fs.StringVar(&n.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	return n
}

// parse checks the flags; serve calls it before it opens anything.
func (n *netConfig) parse() error {
	var err error
	if n.proxies, err = parsePrefixes(n.trustedProxies); err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
	}
	return nil
}

// apply copies the proxy settings into the provider's configuration.
func (n *netConfig) apply(c *idp.Config) {
	c.TrustedProxies, c.ProxyHeader = n.proxies, n.proxyHeader
}

func (n *netConfig) tls() bool { return n.tlsCert != "" || n.tlsKey != "" }

// parsePrefixes reads "10.0.0.0/8, 192.0.2.7, 2001:db8::/32"; a bare
// address is its own /32 or /128.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// certificate is the public listener's TLS certificate, swapped whole on
// reload: a handshake sees the old pair or the new one, never a mix.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads the pair once; an error here stops serve.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again. On any error the certificate in use stays.
func (c *certificate) reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return err
		}
	}
	c.current.Store(&pair)
	return nil
}

func (c *certificate) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if p := c.current.Load(); p != nil {
		return p, nil
	}
	return nil, errors.New("no TLS certificate loaded")
}

// tlsConfig serves the current certificate: TLS 1.2 and up, Go's default
// cipher suites (all AEAD with forward secrecy).
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.getCertificate, MinVersion: tls.VersionTLS12}
}

// onSIGHUP calls reload at every SIGHUP until ctx ends. serve always
// takes SIGHUP, the usual "reload" signal (a certificate deploy hook, a
// config manager, a closed terminal): Go's default for it is to exit at
// once, which would cut every request in flight without a drain.
func onSIGHUP(ctx context.Context, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
}

// reloadOnSIGHUP reloads the certificate at every SIGHUP until ctx ends,
// so a renewed certificate (certbot, cert-manager) is picked up without a
// restart. A failed reload is logged and the old certificate kept. With
// no certificate (c nil) SIGHUP is logged and changes nothing.
func (c *certificate) reloadOnSIGHUP(ctx context.Context, log *slog.Logger) {
	onSIGHUP(ctx, func() {
		if c == nil {
			log.Info("SIGHUP: nothing to reload (no --tls-cert); still serving")
			return
		}
		if err := c.reload(); err != nil {
			log.Error("TLS reload failed: keeping the certificate in use", "err", err)
			return
		}
		leaf := c.current.Load().Leaf
		log.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	})
}
