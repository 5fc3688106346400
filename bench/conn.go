package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
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
}

type wireSession struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	CreatedAt string `json:"created_at"`
	Position  int    `json:"position,omitempty"`
	Customer  struct {
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

// conn is one simulated client: a WebSocket whose writes are serialised.
type conn struct {
	ws  *websocket.Conn
	wmu sync.Mutex
}

// dialHello connects to path (/v1/customer/ws or /v1/agent/ws), says hello
// with token and waits for the welcome.
func (s *server) dialHello(ctx context.Context, i int, path, token string) (*conn, error) {
	ws, _, err := s.dialer(i).DialContext(ctx, s.ws+path, nil)
	if err != nil {
		return nil, err
	}
	c := &conn{ws: ws}
	if err := c.send(map[string]any{"type": "hello", "token": token}); err != nil {
		ws.Close()
		return nil, err
	}
	f, err := c.expect(30*time.Second, "welcome")
	if err != nil {
		ws.Close()
		return nil, err
	}
	_ = f
	return c, nil
}

// send writes one frame.
func (c *conn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.write(b)
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// read reads and decodes one frame.
func (c *conn) read() (*frame, error) {
	_, data, err := c.ws.ReadMessage()
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

func (c *conn) close() {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	c.wmu.Unlock()
	_ = c.ws.Close()
}
