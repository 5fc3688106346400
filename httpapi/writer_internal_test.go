package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// writeRecorder records writes to a hijacked connection that come from
// anywhere but the connection's writer goroutine (or the upgrade itself).
type writeRecorder struct {
	mu  sync.Mutex
	bad []string
}

func (r *writeRecorder) check(op string) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	var stack []string
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "(*wsConn).writeLoop") || strings.HasSuffix(f.Function, "(*Upgrader).Upgrade") {
			return
		}
		stack = append(stack, f.Function)
		if !more {
			break
		}
	}
	r.mu.Lock()
	r.bad = append(r.bad, op+" from "+strings.Join(stack, " <- "))
	r.mu.Unlock()
}

type recordingConn struct {
	net.Conn
	rec *writeRecorder
}

func (c *recordingConn) Write(p []byte) (int, error) { c.rec.check("Write"); return c.Conn.Write(p) }
func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.rec.check("SetWriteDeadline")
	return c.Conn.SetWriteDeadline(t)
}
func (c *recordingConn) SetDeadline(t time.Time) error {
	c.rec.check("SetDeadline")
	return c.Conn.SetDeadline(t)
}

type recordingWriter struct {
	http.ResponseWriter
	rec *writeRecorder
}

func (w recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	rc := &recordingConn{Conn: conn, rec: w.rec}
	brw.Writer.Reset(rc)
	return rc, brw, nil
}

// TestOnlyTheWriterWrites checks that pongs and close replies are written
// by the writer goroutine, never by the reader: a write from the reader
// sets the socket's write deadline (gorilla's default ping handler uses one
// second) and can cut the writer's batch short.
func TestOnlyTheWriterWrites(t *testing.T) {
	const wait = 5 * time.Second
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	hub, err := chat.Open(db, chat.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = hub.Close() })
	secret := []byte("0123456789abcdef0123456789abcdef")
	s := New(hub, Config{CustomerSecret: secret, AgentSecret: db.AgentSecret()})
	rec := &writeRecorder{}
	ws := s.serveWS("customer")
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws(recordingWriter{ResponseWriter: w, rec: rec}, r)
	}))
	t.Cleanup(func() {
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = s.Shutdown(ctx)
	})

	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http"), nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer conn.Close()
	pongs := make(chan string, 4)
	conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	msgs := make(chan []byte, 16)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			msgs <- data
		}
	}()
	ping := func(data string) {
		t.Helper()
		require.NoError(t, conn.WriteControl(websocket.PingMessage, []byte(data), time.Now().Add(wait)))
		select {
		case got := <-pongs:
			require.Equal(t, data, got)
		case <-time.After(wait):
			t.Fatalf("no pong for %q", data)
		}
	}

	ping("before hello") // read by hello
	tok, err := auth.SignCustomer(secret, parley.Customer{ID: "c-1"}, time.Hour, time.Now())
	require.NoError(t, err)
	hello, _ := json.Marshal(map[string]string{"type": "hello", "token": tok})
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, hello))
	select {
	case m := <-msgs:
		require.Contains(t, string(m), `"welcome"`)
	case <-time.After(wait):
		t.Fatal("no welcome")
	}
	ping("after hello") // read by readFrames

	require.NoError(t, conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(wait)))
	select {
	case err := <-readErr:
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, websocket.CloseGoingAway, ce.Code, "the close reply echoes the client's code")
	case <-time.After(wait):
		t.Fatal("no close reply")
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bad) > 0 {
		t.Fatalf("writes outside the writer goroutine:\n%s", strings.Join(rec.bad, "\n"))
	}
}
