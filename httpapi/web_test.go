package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/httpapi"
)

func getWith(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	// A bare transport, so that gzip is not undone behind our back.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func TestWebAssetsHeaders(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.AllowedOrigins = []string{"https://shop.example.com/"} })
	cases := []struct{ path, ctype, ancestors string }{
		{"/widget.js", "text/javascript; charset=utf-8", "'none'"},
		{"/frame/", "text/html; charset=utf-8", "'self' https://shop.example.com"},
		{"/frame/frame.js", "text/javascript; charset=utf-8", "'self' https://shop.example.com"},
		{"/site.css", "text/css; charset=utf-8", "'none'"},
		{"/", "text/html; charset=utf-8", "'none'"},
	}
	for _, c := range cases {
		resp, _ := getWith(t, h.srv.URL+c.path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, c.path)
		require.Equal(t, c.ctype, resp.Header.Get("Content-Type"), c.path)
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self';", c.path)
		require.Contains(t, csp, "object-src 'none'", c.path)
		require.Contains(t, csp, "base-uri 'none'", c.path)
		require.True(t, strings.HasSuffix(csp, "frame-ancestors "+c.ancestors), "%s: %s", c.path, csp)
		require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), c.path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), c.path)
	}
	// Folders redirect to their index; unknown files are 404.
	resp, _ := getWith(t, h.srv.URL+"/frame", nil)
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/frame/", resp.Header.Get("Location"))
	resp, _ = getWith(t, h.srv.URL+"/nope.js", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	// The templates are not served as files.
	resp, _ = getWith(t, h.srv.URL+"/landing.html", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestWebAssetsCachingAndGzip(t *testing.T) {
	h := newHarness(t)
	resp, plain := getWith(t, h.srv.URL+"/site.css", nil)
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	resp, _ = getWith(t, h.srv.URL+"/site.css", map[string]string{"If-None-Match": etag})
	require.Equal(t, http.StatusNotModified, resp.StatusCode)

	resp, zipped := getWith(t, h.srv.URL+"/site.css", map[string]string{"Accept-Encoding": "br, gzip"})
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, plain, unzipped)
	require.Less(t, len(zipped), len(plain))
}

func TestLandingPageSnippet(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.Demo = true })
	_, body := getWith(t, h.srv.URL+"/", nil)
	host := strings.TrimPrefix(h.srv.URL, "http://")
	require.Contains(t, string(body), `&lt;script src=&#34;http://`+host+`/widget.js&#34; async&gt;&lt;/script&gt;`)
	require.Contains(t, string(body), `href="/console/"`)
	require.Contains(t, string(body), `href="/demo"`)

	h2 := newHarness(t, func(c *httpapi.Config) { c.PublicURL = "https://chat.example.com/" })
	_, body = getWith(t, h2.srv.URL+"/", nil)
	require.Contains(t, string(body), `https://chat.example.com/widget.js`)
	require.NotContains(t, string(body), `href="/demo"`)
}

func TestDemoPageAndToken(t *testing.T) {
	off := newHarness(t)
	resp, _ := getWith(t, off.srv.URL+"/demo", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, http.StatusNotFound, off.post("/v1/demo/token", map[string]string{"name": "Ada"}, nil))

	h := newHarness(t, func(c *httpapi.Config) { c.Demo = true })
	// The page on 127.0.0.1 embeds the widget from localhost, so the frame
	// is cross-origin, and the frame lets the page embed it.
	port := h.srv.URL[strings.LastIndex(h.srv.URL, ":")+1:]
	resp, body := getWith(t, h.srv.URL+"/demo", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), `src="http://localhost:`+port+`/widget.js"`)
	csp := resp.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self' http://localhost:"+port+";")
	require.Contains(t, csp, "frame-src http://localhost:"+port)
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/frame/", nil)
	req.Host = "localhost:" + port
	fresp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	fresp.Body.Close()
	require.Contains(t, fresp.Header.Get("Content-Security-Policy"), "frame-ancestors 'self' http://127.0.0.1:"+port)

	var out struct{ Token string }
	require.Equal(t, http.StatusOK, h.post("/v1/demo/token", map[string]string{"name": "Ada Lovelace"}, &out))
	c, err := auth.VerifyCustomer(h.secret, out.Token, h.clock.now())
	require.NoError(t, err)
	require.Equal(t, "Ada Lovelace", c.Name)
	require.Equal(t, http.StatusBadRequest, h.post("/v1/demo/token", map[string]string{"name": " "}, nil))
}

// TestDemoOnlyForLoopbackRequests: a server on loopback behind a public
// reverse proxy must not sign demo tokens for the internet; --demo
// (DemoPublic) serves every request.
func TestDemoOnlyForLoopbackRequests(t *testing.T) {
	h := newHarness(t, func(c *httpapi.Config) { c.Demo = true })
	try := func(url string, hdr map[string]string) int {
		req, err := http.NewRequest(http.MethodPost, url+"/v1/demo/token", strings.NewReader(`{"name":"Eve"}`))
		require.NoError(t, err)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, try(h.srv.URL, nil))
	require.Equal(t, http.StatusOK, try(h.srv.URL, map[string]string{"Host": "localhost"}))
	require.Equal(t, http.StatusNotFound, try(h.srv.URL, map[string]string{"X-Forwarded-For": "203.0.113.9"}))
	require.Equal(t, http.StatusNotFound, try(h.srv.URL, map[string]string{"Host": "chat.example.com"}))
	resp, body := getWith(t, h.srv.URL+"/", map[string]string{"X-Forwarded-For": "203.0.113.9"})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, string(body), `href="/demo"`)

	pub := newHarness(t, func(c *httpapi.Config) { c.Demo, c.DemoPublic = true, true })
	require.Equal(t, http.StatusOK, try(pub.srv.URL, map[string]string{"Host": "chat.example.com", "X-Forwarded-For": "203.0.113.9"}))
}
