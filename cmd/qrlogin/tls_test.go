package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert makes a self-signed certificate for localhost and 127.0.0.1
// with the given serial and writes it and its key to dir/cert.pem and
// dir/key.pem (each replaced by a rename, as certbot does).
func writeCert(t *testing.T, dir string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "qrlogin test " + big.NewInt(serial).String()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(t, filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial of the certificate the server presents now.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// --tls-cert/--tls-key on a real process: the public listener speaks TLS
// with the certificate, the default issuer is https and so HSTS is sent;
// SIGHUP swaps in a renewed certificate without a restart, and a broken
// one is refused while the current one stays in use.
func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	bin := buildQrlogin(t)
	dir := t.TempDir()
	first := writeCert(t, dir, 1001)
	p := startProcess(t, bin, cleanEnv(), "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "key.pem"), "--shutdown-delay", "0")
	if !strings.HasPrefix(p.issuer, "https://localhost:") || !strings.Contains(p.stdout.String(), "tls:") {
		t.Fatalf("banner:\n%s", p.stdout)
	}
	roots := x509.NewCertPool()
	roots.AddCert(first)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get("https://" + p.public + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery over TLS: %v", err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || doc.Issuer != p.issuer {
		t.Fatalf("discovery: %d %v issuer %q", resp.StatusCode, err, doc.Issuer)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security %q on an https issuer", hsts)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("served %s, want HTTP/2 over TLS", resp.Proto)
	}

	second := writeCert(t, dir, 1002)
	roots.AddCert(second)
	p.signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for servedSerial(t, p.public, roots) != "1002" {
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was never served\nstderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	writeFile(t, filepath.Join(dir, "key.pem"), []byte("not a key"))
	p.signal(t, syscall.SIGHUP)
	for !strings.Contains(p.stderr.String(), "TLS reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged\nstderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := servedSerial(t, p.public, roots); got != "1002" {
		t.Fatalf("after a failed reload the server presents serial %s, want the one in use (1002)", got)
	}

	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, p.stderr)
	}
}

// Half a pair, or a pair that does not load, stops serve at start.
func TestServeRefusesBadTLSFlags(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, 7)
	for name, args := range map[string][]string{
		"cert without key": {"--tls-cert", filepath.Join(dir, "cert.pem")},
		"missing key file": {"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "nope.pem")},
		"key is the cert":  {"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(dir, "cert.pem")},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...),
				func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
			if err == nil || !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "TLS") {
				t.Fatalf("serve started or failed for another reason: %v", err)
			}
		})
	}
}

func TestTrustedProxiesFlag(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.0.2.7,2001:db8::/32, ::ffff:198.51.100.1 ,")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got); s != "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32 198.51.100.1/32]" {
		t.Errorf("parsed %s", s)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1-10.0.0.9"} {
		err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--trusted-proxies", bad},
			func(string) string { return "" }, &syncBuffer{}, &syncBuffer{})
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--trusted-proxies") {
			t.Errorf("--trusted-proxies %q: %v", bad, err)
		}
	}
}
