package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/cli"
	"github.com/parley-chat/parley/internal/testcert"
	"github.com/parley-chat/parley/internal/wsclient"
)

var httpsListenRe = regexp.MustCompile(`Parley listening on https://(\S+) \(data in (.*)\)`)

// servedSerial makes a fresh TLS connection to addr trusting cert and
// returns the serial number of the certificate the server presented.
func servedSerial(t *testing.T, addr string, pool *testcert.Cert) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, pool.ClientConfig())
	require.NoError(t, err)
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// startServeTLS runs parley serve with args on 127.0.0.1:0 and waits for
// its https listening line.
func startServeTLS(t *testing.T, e env, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{out: newSyncBuffer(), errOut: newSyncBuffer(), cancel: cancel, done: make(chan struct{})}
	args = append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)
	go func() {
		defer close(s.done)
		s.code = cli.Main(ctx, args, cli.Streams{In: strings.NewReader(""), Out: s.out, Err: s.errOut}, e.lookup)
	}()
	t.Cleanup(func() { s.stop(t) })
	m := s.out.waitMatch(t, httpsListenRe, s.done)
	s.addr, s.data = m[1], m[2]
	return s
}

// tlsDialer is a WebSocket dialer that trusts only c.
func tlsDialer(c *testcert.Cert) *websocket.Dialer {
	return &websocket.Dialer{HandshakeTimeout: waitTime, TLSClientConfig: c.ClientConfig()}
}

// TestServeTLSReloadsOnHangup serves HTTPS and WSS from --tls-cert and
// --tls-key: a customer chats over wss://, a renewed pair written over the
// files is served after SIGHUP (while the open WebSocket keeps working),
// and a broken pair on a later SIGHUP leaves the renewed one in place.
func TestServeTLSReloadsOnHangup(t *testing.T) {
	dir := t.TempDir()
	first, err := testcert.New("parley first")
	require.NoError(t, err)
	certFile, keyFile, err := first.WriteFiles(dir)
	require.NoError(t, err)
	data := t.TempDir()
	s := startServeTLS(t, env{}, "--data", data, "--tls-cert", certFile, "--tls-key", keyFile)

	// A customer over WSS, trusting only the first certificate.
	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), customer("tls-1"), time.Hour, time.Now())
	require.NoError(t, err)
	conn, err := wsclient.Dial(context.Background(), "wss://"+s.addr+"/v1/customer/ws", wsclient.Options{
		Timeout: waitTime, WriteTimeout: waitTime, Dialer: tlsDialer(first),
	})
	require.NoError(t, err)
	wc := wsclient.Listen[frame](conn, wsclient.ListenOptions{Buffer: 1 << 10, Drop: true})
	t.Cleanup(func() { conn.Close() })
	cust := &wsClient{t: t, wc: wc, conn: conn.WS(), frames: wc.Frames(), closed: wc.Done()}
	cust.mustSend(frame{"type": "hello", "token": tok, "req": "hello"})
	require.Equal(t, "welcome", cust.expectRe("hello").str("type"))
	// Plain HTTP on the TLS port gets nowhere.
	_, err = wsclient.Dial(context.Background(), "ws://"+s.addr+"/v1/customer/ws", wsclient.Options{Timeout: waitTime})
	require.Error(t, err)
	require.Equal(t, first.Leaf.SerialNumber.String(), servedSerial(t, s.addr, first))

	// Renewal: new files, SIGHUP, the new certificate from the next
	// handshake on.
	second, err := testcert.New("parley second")
	require.NoError(t, err)
	_, _, err = second.WriteFiles(dir)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	s.errOut.waitMatch(t, regexp.MustCompile(`TLS certificate reloaded.*parley second`), s.done)
	assert.Equal(t, second.Leaf.SerialNumber.String(), servedSerial(t, s.addr, second))
	// The WebSocket opened before the renewal still works.
	cust.mustSend(frame{"type": "start", "req": "s"})
	require.Equal(t, "session", cust.expectRe("s").str("type"))

	// A broken pair (the key of another certificate) is refused and the
	// renewed certificate stays.
	third, err := testcert.New("parley third")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, third.KeyPEM, 0o600))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	s.errOut.waitMatch(t, regexp.MustCompile(`TLS certificate not reloaded; still serving the previous one`), s.done)
	assert.Equal(t, second.Leaf.SerialNumber.String(), servedSerial(t, s.addr, second))
}

// TestServeTLSFlagsChecked: the two flags go together and an unreadable
// pair stops the start before anything is printed.
func TestServeTLSFlagsChecked(t *testing.T) {
	data := t.TempDir()
	runFail(t, env{}, "", "--tls-cert and --tls-key go together", "serve", "--data", data, "--listen", "127.0.0.1:0", "--tls-cert", "x.pem")
	runFail(t, env{}, "", "none.pem", "serve", "--data", data, "--listen", "127.0.0.1:0",
		"--tls-cert", filepath.Join(data, "none.pem"), "--tls-key", filepath.Join(data, "none.key"))
	runFail(t, env{}, "", "--log-format", "serve", "--data", data, "--listen", "127.0.0.1:0", "--log-format", "xml")
}

// TestHealthcheck: parley healthcheck exits 0 against a ready server, over
// HTTP and HTTPS (from --listen/--tls-cert or their variables, a wildcard
// address asked on loopback), and 1 when nothing answers.
func TestHealthcheck(t *testing.T) {
	plain := startServe(t, env{}, "--data", t.TempDir())
	out := runOK(t, env{}, "", "healthcheck", "--listen", plain.addr)
	assert.Equal(t, "ready (http://"+plain.addr+"/readyz)\n", out)
	_, port, _ := strings.Cut(plain.addr, ":")
	out = runOK(t, env{"PARLEY_LISTEN": "0.0.0.0:" + port}, "", "healthcheck")
	assert.Contains(t, out, "ready (http://127.0.0.1:"+port+"/readyz)")

	cert, err := testcert.New("healthcheck")
	require.NoError(t, err)
	certFile, keyFile, err := cert.WriteFiles(t.TempDir())
	require.NoError(t, err)
	secure := startServeTLS(t, env{}, "--data", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	out = runOK(t, env{"PARLEY_LISTEN": secure.addr, "PARLEY_TLS_CERT": certFile}, "", "healthcheck")
	assert.Contains(t, out, "ready (https://"+secure.addr+"/readyz)")
	runFail(t, env{}, "", "not ready", "healthcheck", "--listen", secure.addr) // plain HTTP to a TLS port

	plain.stop(t)
	runFail(t, env{}, "", "not ready", "healthcheck", "--listen", plain.addr)
}

// TestServeSurvivesHangupWithoutTLS: systemctl reload sends SIGHUP; a
// server without certificates logs that there is nothing to reload and
// serves on (uncaught, SIGHUP would end the process).
func TestServeSurvivesHangupWithoutTLS(t *testing.T) {
	s := startServe(t, env{}, "--data", t.TempDir())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	s.errOut.waitMatch(t, regexp.MustCompile(`SIGHUP: nothing to reload`), s.done)
	runOK(t, env{}, "", "healthcheck", "--listen", s.addr)
	require.Equal(t, 0, s.stop(t))
}
