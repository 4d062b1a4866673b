package idp

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The client's address behind reverse proxies.
//
// A forwarding header is only as good as whoever wrote it: the client
// writes what it likes, and a proxy appends the address it saw. So the
// header is read only when the peer of the connection is a trusted proxy
// (Config.TrustedProxies), and then from the right: each hop that is a
// trusted proxy is skipped, and the first that is not is the client. A
// client behind our proxies can prepend anything; it cannot reach past
// the address our own proxy appended. This is nginx's real_ip module with
// real_ip_recursive on.
//
// One header is read, the one the proxies are configured to write
// (Config.ProxyHeader): X-Forwarded-For, or Forwarded (RFC 7239). Reading
// both would let a client whose proxy appends only to the first put a
// fake address in the second, which the proxy passes through untouched.

// Proxy headers for Config.ProxyHeader.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

type clientIPKey struct{}

// withClientIP resolves r's client address once, into ctx (r's context
// to be), for clientIP. Without trusted proxies there is nothing to
// resolve: the peer is the client.
func (s *Server) withClientIP(ctx context.Context, r *http.Request) context.Context {
	if len(s.cfg.TrustedProxies) == 0 {
		return ctx
	}
	ip := forwardedClient(peerAddr(r), r.Header.Values(s.cfg.ProxyHeader), s.cfg.ProxyHeader, s.cfg.TrustedProxies)
	if !ip.IsValid() {
		return ctx
	}
	return context.WithValue(ctx, clientIPKey{}, ip.String())
}

// clientIP is the address the request came from: the peer of the
// connection, or, when the peer is a trusted proxy, the address the
// proxies reported (see above). Never taken from a header an untrusted
// peer sent. For per-address limits, logs and what the phone is shown.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	if a := peerAddr(r); a.IsValid() {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// peerAddr is the connection's remote address, IPv4-mapped IPv6 unmapped
// (so 10.0.0.0/8 matches ::ffff:10.0.0.1); invalid if RemoteAddr is not
// an address (a test or a unix socket).
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// forwardedClient walks the hops of header (all its lines, in order) from
// the right, starting at peer, and returns the first address that is not
// a trusted proxy; if every hop is trusted, the leftmost. A hop that is
// not an address ("unknown", an obfuscated RFC 7239 §6.3 identifier, a
// missing for=, garbage) ends the walk at the last address known: the
// trusted proxy that wrote it.
func forwardedClient(peer netip.Addr, values []string, header string, trusted []netip.Prefix) netip.Addr {
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	if http.CanonicalHeaderKey(header) == HeaderForwarded {
		hops = forwardedFor(values)
	} else {
		for _, v := range values {
			hops = append(hops, strings.Split(v, ",")...)
		}
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return addr
		}
		addr = a
		if !isTrusted(a, trusted) {
			return a
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one node: an address, optionally with a port, IPv6
// optionally in brackets (RFC 7239 §6: "[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor returns the for= node of every forwarded-element of the
// Forwarded header lines (RFC 7239 §4), in order; an element without
// for= yields "" (not an address: it ends the walk).
//
//	Forwarded   = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair = token "=" value ; value = token / quoted-string
func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, element := range splitQuoted(v, ',') {
			node := ""
			for _, pair := range splitQuoted(element, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					node = unquote(strings.TrimSpace(val))
				}
			}
			hops = append(hops, node)
		}
	}
	return hops
}

// splitQuoted splits s at sep outside quoted-strings (RFC 7230 §3.2.6),
// where a backslash escapes the next character.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote removes the quotes and escapes of a quoted-string; a token is
// returned as it is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
