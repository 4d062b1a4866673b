package idp

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// The walk from the right over the forwarding header, for both headers.
func TestForwardedClient(t *testing.T) {
	proxies := prefixes(t, "10.0.0.0/8", "2001:db8:ffff::/48")
	for _, tc := range []struct {
		name, peer, header string
		values             []string
		want               string
	}{
		{"an untrusted peer's header is ignored", "203.0.113.5", HeaderXForwardedFor, []string{"198.51.100.1"}, "203.0.113.5"},
		{"an untrusted peer's Forwarded is ignored", "203.0.113.5", HeaderForwarded, []string{"for=198.51.100.1"}, "203.0.113.5"},
		{"a trusted peer without header is the client", "10.0.0.1", HeaderXForwardedFor, nil, "10.0.0.1"},
		{"a trusted proxy names the client", "10.0.0.1", HeaderXForwardedFor, []string{"198.51.100.1"}, "198.51.100.1"},
		{"what the client prepended is not reached", "10.0.0.1", HeaderXForwardedFor, []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops are skipped", "10.0.0.1", HeaderXForwardedFor, []string{"1.2.3.4, 198.51.100.1, 10.9.9.9, 10.8.8.8"}, "198.51.100.1"},
		{"header lines are one list, in order", "10.0.0.1", HeaderXForwardedFor, []string{"1.2.3.4", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"all trusted: the leftmost", "10.0.0.1", HeaderXForwardedFor, []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"garbage stops at the proxy that wrote it", "10.0.0.1", HeaderXForwardedFor, []string{"198.51.100.1, bogus"}, "10.0.0.1"},
		{"garbage behind a trusted hop stops at that hop", "10.0.0.1", HeaderXForwardedFor, []string{"bogus, 10.2.2.2"}, "10.2.2.2"},
		{"an address with a port", "10.0.0.1", HeaderXForwardedFor, []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv4-mapped is IPv4", "::ffff:10.0.0.1", HeaderXForwardedFor, []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv6 proxy and client", "2001:db8:ffff::1", HeaderXForwardedFor, []string{"2001:db8:1::7"}, "2001:db8:1::7"},
		{"the other header is not read", "10.0.0.1", HeaderForwarded, nil, "10.0.0.1"},
		{"Forwarded: for= of the last element", "10.0.0.1", HeaderForwarded, []string{"for=1.2.3.4, for=198.51.100.1;proto=https"}, "198.51.100.1"},
		{"Forwarded: quoted IPv6 with port", "10.0.0.1", HeaderForwarded, []string{`for="[2001:db8:1::7]:4711";by=10.0.0.1`}, "2001:db8:1::7"},
		{"Forwarded: case-insensitive name", "10.0.0.1", HeaderForwarded, []string{"For=198.51.100.1"}, "198.51.100.1"},
		{"Forwarded: unknown stops the walk", "10.0.0.1", HeaderForwarded, []string{"for=198.51.100.1, for=unknown"}, "10.0.0.1"},
		{"Forwarded: obfuscated stops the walk", "10.0.0.1", HeaderForwarded, []string{"for=_hidden"}, "10.0.0.1"},
		{"Forwarded: element without for=", "10.0.0.1", HeaderForwarded, []string{"for=198.51.100.1, proto=https"}, "10.0.0.1"},
		{"Forwarded: a comma inside quotes", "10.0.0.1", HeaderForwarded, []string{`for=198.51.100.1;x="a,b", for=10.2.2.2`}, "198.51.100.1"},
		{"Forwarded: trusted hops skipped", "10.0.0.1", HeaderForwarded, []string{"for=1.2.3.4", "for=198.51.100.1, for=10.3.3.3"}, "198.51.100.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := forwardedClient(netip.MustParseAddr(tc.peer).Unmap(), tc.values, tc.header, proxies)
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// The header parsers on arbitrary input: no panic, and the answer is the
// peer or an address that occurs in the header.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"198.51.100.1, 10.0.0.2", `for="[2001:db8::1]:80";proto=https, for=unknown`,
		`for="\"quoted\\", for=`, "", ",,,", `for="unterminated`, "for=1.2.3.4;for=5.6.7.8"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	proxies := prefixes(f, "10.0.0.0/8", "::/0")
	f.Fuzz(func(t *testing.T, header string, forwarded bool) {
		name := HeaderXForwardedFor
		if forwarded {
			name = HeaderForwarded
		}
		peer := netip.MustParseAddr("10.0.0.1")
		got := forwardedClient(peer, []string{header}, name, proxies)
		if !got.IsValid() {
			t.Fatalf("no address for %q", header)
		}
		if got != peer && !hopsContain(header, forwarded, got) {
			t.Fatalf("%s is neither the peer nor in %q", got, header)
		}
	})
}

func hopsContain(header string, forwarded bool, a netip.Addr) bool {
	hops := strings.Split(header, ",")
	if forwarded {
		hops = forwardedFor([]string{header})
	}
	for _, h := range hops {
		if b, ok := parseHop(h); ok && b == a {
			return true
		}
	}
	return false
}
