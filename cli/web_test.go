package cli_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestServeWebUI: a server on loopback serves the landing page with the
// demo link and the demo page; --public-url sets the snippet's address.
func TestServeWebUI(t *testing.T) {
	s := startServe(t, env{}, "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--public-url", "https://chat.example.com")
	require.Contains(t, s.out.String(), "Open http://"+s.addr+"/ in a browser")
	code, body := getBody(t, s.url("/"))
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `href="/demo"`)
	require.Contains(t, body, `https://chat.example.com/widget.js`)
	code, _ = getBody(t, s.url("/demo"))
	require.Equal(t, http.StatusOK, code)
	code, _ = getBody(t, s.url("/widget.js"))
	require.Equal(t, http.StatusOK, code)
}
