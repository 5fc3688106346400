package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPKey carries the client address ServeHTTP worked out.
type clientIPKey struct{}

// clientIP returns the address of the client that sent r: the peer, or,
// when the peer is a trusted proxy (Config.TrustedProxies), the address it
// forwarded in X-Forwarded-For. Requests that reached the Server's
// ServeHTTP carry it already; others fall back to the peer.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return peerIP(r)
}

// peerIP returns the address of the peer that connected.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withClientIP returns r carrying its client address for clientIP.
func (s *Server) withClientIP(r *http.Request) *http.Request {
	ip := resolveClientIP(peerIP(r), r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies)
	return r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip))
}

// resolveClientIP works out the client's address from the peer's and the
// X-Forwarded-For headers. Only a trusted peer's header is believed, and
// of it only the part that trusted proxies appended: the list is read from
// the right, skipping trusted proxies, and the first other address is the
// client. Addresses further left were written by the client itself and
// could be anything. If every address is trusted, the leftmost one is the
// client; a malformed entry ends the walk at the last good address.
func resolveClientIP(peer string, xff []string, trusted []netip.Prefix) string {
	addr, err := netip.ParseAddr(peer)
	if err != nil || !isTrusted(addr, trusted) {
		return peer
	}
	var hops []string
	for _, h := range xff {
		for _, part := range strings.Split(h, ",") {
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	client := addr
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			break
		}
		client = a.Unmap()
		if !isTrusted(client, trusted) {
			break
		}
	}
	return client.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses a list of CIDR prefixes or single addresses
// (for --trusted-proxies).
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
