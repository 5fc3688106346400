package cli_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServeNotifiesSystemd: under Type=notify, parley serve sends READY=1
// over $NOTIFY_SOCKET once its listener accepts connections, and
// STOPPING=1 when it begins to shut down.
func TestServeNotifiesSystemd(t *testing.T) {
	// Socket paths are limited to 108 bytes; t.TempDir can be longer.
	dir, err := os.MkdirTemp("", "sdn")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	require.NoError(t, err)
	defer sock.Close()
	read := func() string {
		t.Helper()
		buf := make([]byte, 256)
		require.NoError(t, sock.SetReadDeadline(time.Now().Add(waitTime)))
		n, err := sock.Read(buf)
		require.NoError(t, err)
		return string(buf[:n])
	}

	s := startServe(t, env{"NOTIFY_SOCKET": path}, "--data", t.TempDir())
	require.Equal(t, "READY=1", read())
	resp, err := (&http.Client{Timeout: waitTime}).Get(s.url("/readyz"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 0, s.stop(t))
	require.Equal(t, "STOPPING=1", read())
}

// TestServeNotifySocketGone: a notify socket that is gone only warns;
// the server serves on.
func TestServeNotifySocketGone(t *testing.T) {
	s := startServe(t, env{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}, "--data", t.TempDir())
	s.errOut.waitMatch(t, regexp.MustCompile(`could not tell the service manager we are ready`), s.done)
	require.Equal(t, 0, s.stop(t))
}
