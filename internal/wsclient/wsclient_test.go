package wsclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/internal/wsclient"
)

const wait = 5 * time.Second

// server answers each frame with a few frames in order, then closes with
// code 4401 when told "bye".
func server(t *testing.T) string {
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			var in map[string]any
			if err := ws.ReadJSON(&in); err != nil {
				return
			}
			switch in["type"] {
			case "bye":
				_ = ws.WriteJSON(map[string]any{"type": "last"})
				_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4401, "go away"), time.Now().Add(wait))
				return
			default:
				_ = ws.WriteJSON(map[string]any{"type": "noise"})
				_ = ws.WriteJSON(map[string]any{"type": "error", "re": in["req"], "code": "x"})
				_ = ws.WriteJSON(map[string]any{"type": "pong", "re": in["req"], "n": 7, "obj": map[string]any{"s": "v"}})
			}
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

func TestClient(t *testing.T) {
	conn, err := wsclient.Dial(context.Background(), server(t), wsclient.Options{Timeout: wait})
	require.NoError(t, err)
	c := wsclient.Listen[wsclient.Frame](conn, wsclient.ListenOptions{})
	defer c.Close()

	require.NoError(t, c.Send(map[string]any{"type": "ping", "req": "1"}))
	_, err = c.Expect(wait, "pong")
	require.Error(t, err, "an error frame fails Expect")
	f, err := c.Expect(wait, "pong")
	require.NoError(t, err)
	assert.Equal(t, 7, f.Num("n"))
	assert.Equal(t, "v", f.Obj("obj").Str("s"))

	require.NoError(t, c.Send(map[string]any{"type": "ping", "req": "2"}))
	f, err = c.WaitFor(wait, "pong", func(f wsclient.Frame) bool { return f.Str("type") == "pong" })
	require.NoError(t, err)
	assert.Equal(t, "2", f.Str("re"))

	// Frames read before the close are still delivered; then waits end
	// with ErrClosed and the close frame is observed.
	require.NoError(t, c.Send(map[string]any{"type": "bye"}))
	code, text, err := c.WaitClose(wait)
	require.NoError(t, err)
	assert.Equal(t, 4401, code)
	assert.Equal(t, "go away", text)
	f, err = c.Expect(wait, "last")
	require.NoError(t, err)
	_, err = c.Next(wait)
	assert.True(t, errors.Is(err, wsclient.ErrClosed), "got %v", err)
}

func TestDialTimeout(t *testing.T) {
	// A listener that never answers the handshake.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer ts.Close()
	_, err := wsclient.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http"), wsclient.Options{Timeout: 50 * time.Millisecond})
	require.Error(t, err)
}
