package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// clientKey carries the requestInfo ServeHTTP worked out.
type clientKey struct{}

// requestInfo is what ServeHTTP works out about a request once: who sent
// it and how the browser addressed this server. Behind a trusted proxy
// (Config.TrustedProxies) the proxy's X-Forwarded-For, X-Forwarded-Proto
// and X-Forwarded-Host are believed; from any other peer they are ignored.
type requestInfo struct {
	ip     string // the client's address
	scheme string // "http" or "https", as the browser used it
	host   string // the Host the browser used
	id     string // request id, for logs (X-Request-Id)
}

// clientIP returns the address of the client that sent r: the peer, or,
// when the peer is a trusted proxy (Config.TrustedProxies), the address it
// forwarded in X-Forwarded-For. Requests that reached the Server's
// ServeHTTP carry it already; others fall back to the peer.
func clientIP(r *http.Request) string {
	if ri, ok := r.Context().Value(clientKey{}).(*requestInfo); ok {
		return ri.ip
	}
	return peerIP(r)
}

// requestScheme returns "https" or "http": how the browser reached this
// server, following X-Forwarded-Proto from a trusted proxy.
func requestScheme(r *http.Request) string {
	if ri, ok := r.Context().Value(clientKey{}).(*requestInfo); ok {
		return ri.scheme
	}
	return directScheme(r)
}

// requestHost returns the host[:port] the browser addressed, following
// X-Forwarded-Host from a trusted proxy.
func requestHost(r *http.Request) string {
	if ri, ok := r.Context().Value(clientKey{}).(*requestInfo); ok {
		return ri.host
	}
	return r.Host
}

// requestID returns the request's id for logs, or "".
func requestID(r *http.Request) string {
	if ri, ok := r.Context().Value(clientKey{}).(*requestInfo); ok {
		return ri.id
	}
	return ""
}

func directScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// peerIP returns the address of the peer that connected.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withClientIP returns r carrying its requestInfo for clientIP,
// requestScheme, requestHost and requestID, and sets the X-Request-Id
// response header.
func (s *Server) withClientIP(w http.ResponseWriter, r *http.Request) *http.Request {
	peer := peerIP(r)
	ri := &requestInfo{
		ip:     resolveClientIP(peer, r.Header.Values("X-Forwarded-For"), s.cfg.TrustedProxies),
		scheme: directScheme(r),
		host:   r.Host,
	}
	if addr, err := netip.ParseAddr(peer); err == nil && isTrusted(addr, s.cfg.TrustedProxies) {
		if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			ri.scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			ri.host = h
		}
		if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
			ri.id = id
		}
	}
	if ri.id == "" {
		ri.id = s.reqIDs.next()
	}
	w.Header().Set("X-Request-Id", ri.id)
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, ri))
}

// firstValue returns the first of a comma-separated header's values: the
// one the proxy nearest the browser wrote.
func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// validHost accepts host[:port] names and addresses, nothing with a path,
// user info or spaces.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		ok := c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// validRequestID accepts the ids proxies make (hex, UUIDs, base64-ish):
// up to 64 printable characters without spaces or quotes.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// requestIDs makes request ids: a random prefix per server and a counter,
// unique in this server's logs and cheap to make.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &requestIDs{prefix: hex.EncodeToString(b)}
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 36)
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
