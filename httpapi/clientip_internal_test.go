package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRequestInfo: X-Forwarded-Proto, -Host and X-Request-Id count only
// from trusted peers, only their first value, and only when well formed;
// otherwise the request's own scheme and Host and a fresh id are used.
func TestRequestInfo(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, reqIDs: newRequestIDs()}
	get := func(peer string, hdr map[string]string) (*requestInfo, string) {
		r := httptest.NewRequest(http.MethodGet, "http://inner:8080/", nil)
		r.RemoteAddr = peer + ":5000"
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		r = s.withClientIP(w, r)
		return r.Context().Value(clientKey{}).(*requestInfo), w.Header().Get("X-Request-Id")
	}
	fwd := map[string]string{"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https, http",
		"X-Forwarded-Host": "chat.example.com, inner", "X-Request-Id": "abc-123"}

	ri, echoed := get("10.1.2.3", fwd)
	assert.Equal(t, requestInfo{ip: "203.0.113.5", scheme: "https", host: "chat.example.com", id: "abc-123"}, *ri)
	assert.Equal(t, "abc-123", echoed)

	ri, echoed = get("198.51.100.9", fwd) // not a proxy: nothing believed
	assert.Equal(t, "198.51.100.9", ri.ip)
	assert.Equal(t, "http", ri.scheme)
	assert.Equal(t, "inner:8080", ri.host)
	assert.NotEqual(t, "abc-123", ri.id)
	assert.Equal(t, ri.id, echoed)

	for _, bad := range []map[string]string{
		{"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "evil.example/path", "X-Request-Id": "has space"},
		{"X-Forwarded-Proto": "", "X-Forwarded-Host": "user@evil.example", "X-Request-Id": strings.Repeat("x", 65)},
		{"X-Forwarded-Host": "evil.example\"><script>", "X-Request-Id": "quote\"d"},
	} {
		ri, _ := get("10.1.2.3", bad)
		assert.Equal(t, "http", ri.scheme, "%v", bad)
		assert.Equal(t, "inner:8080", ri.host, "%v", bad)
		assert.NotEqual(t, bad["X-Request-Id"], ri.id, "%v", bad)
		assert.NotEmpty(t, ri.id)
	}
	a, _ := get("198.51.100.9", nil)
	b, _ := get("198.51.100.9", nil)
	assert.NotEqual(t, a.id, b.id, "request ids are unique")
}
