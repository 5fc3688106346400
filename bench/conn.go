package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/internal/wsclient"
)

// frame is the part of a server frame the generator looks at.
type frame struct {
	Type        string       `json:"type"`
	Re          string       `json:"re,omitempty"`
	Code        string       `json:"code,omitempty"`
	Message     string       `json:"message,omitempty"`
	SessionID   string       `json:"session_id,omitempty"`
	Session     *wireSession `json:"session,omitempty"`
	Event       *wireEvent   `json:"event,omitempty"`
	Events      []wireEvent  `json:"events,omitempty"`
	More        bool         `json:"more,omitempty"`
	ClientMsgID string       `json:"client_msg_id,omitempty"`
	Seq         uint64       `json:"seq,omitempty"`
	Status      string       `json:"status,omitempty"`
	Position    int          `json:"position,omitempty"`
	Duplicate   bool         `json:"duplicate,omitempty"`
	EWTSeconds  *int         `json:"ewt_s,omitempty"`
}

type wireSession struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	Position  int    `json:"position,omitempty"`
	// EWTSeconds and AgentsAvailable describe a queued session's wait.
	EWTSeconds      *int `json:"ewt_s,omitempty"`
	AgentsAvailable *int `json:"agents_available,omitempty"`
	Customer        struct {
		ID string `json:"id"`
	} `json:"customer"`
	Agents []struct {
		ID string `json:"id"`
	} `json:"agents"`
}

type wireEvent struct {
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	From struct {
		Role string `json:"role"`
		ID   string `json:"id"`
	} `json:"from"`
	Text        string `json:"text,omitempty"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

// conn is one simulated client: a wsclient connection, read one frame at
// a time and decoded into frame, the cheap struct the generator needs.
type conn struct {
	*wsclient.Conn
	ws *websocket.Conn
}

// dialHello connects to path (/v1/customer/ws or /v1/agent/ws), says hello
// with token and waits for the welcome.
func (s *server) dialHello(ctx context.Context, i int, path, token string) (*conn, error) {
	wc, err := wsclient.Dial(ctx, s.ws+path, wsclient.Options{Dialer: s.dialer(i)})
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: wc, ws: wc.WS()}
	if err := c.send(map[string]any{"type": "hello", "token": token}); err != nil {
		wc.Close()
		return nil, err
	}
	if _, err := c.expect(30*time.Second, "welcome"); err != nil {
		wc.Close()
		return nil, err
	}
	return c, nil
}

// send writes one frame.
func (c *conn) send(v any) error { return c.Send(v) }

// write writes one frame, already encoded.
func (c *conn) write(b []byte) error { return c.Write(b) }

// read reads and decodes one frame.
func (c *conn) read() (*frame, error) {
	data, err := c.Read()
	if err != nil {
		return nil, err
	}
	f := new(frame)
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("bad frame %q: %w", data, err)
	}
	return f, nil
}

// expect reads frames until one of type typ arrives; an error frame fails.
// It is for the setup phases, before a connection has its reader.
func (c *conn) expect(limit time.Duration, typ string) (*frame, error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(limit))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	for {
		f, err := c.read()
		if err != nil {
			return nil, err
		}
		switch f.Type {
		case typ:
			return f, nil
		case "error":
			return nil, fmt.Errorf("%s: %s", f.Code, f.Message)
		}
	}
}

func (c *conn) close() { _ = c.CloseWith(websocket.CloseNormalClosure, "") }

// closeAll closes every connection that was opened, 64 at a time.
func closeAll(conns []*conn) {
	_ = parallel(context.Background(), len(conns), 64, func(i int) error {
		if conns[i] != nil {
			_ = conns[i].ws.Close()
		}
		return nil
	})
}
