// Package wsclient is the WebSocket client of Parley's own tests and of
// parley bench: it dials with a timeout, writes JSON frames from any
// goroutine, and either reads frames one at a time (Conn.Read, for hot
// paths that decode into their own types) or in the background (Listen),
// with waits bounded by a deadline and the close frame observed.
package wsclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultTimeout bounds dialing when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configures Dial.
type Options struct {
	// Header is sent with the upgrade request.
	Header http.Header
	// Timeout bounds the dial and handshake; zero means DefaultTimeout.
	Timeout time.Duration
	// WriteTimeout, if positive, bounds each write.
	WriteTimeout time.Duration
	// Dialer, if set, dials (for buffer sizes or a local address); its
	// handshake timeout is used when Timeout is zero.
	Dialer *websocket.Dialer
}

// Conn is a WebSocket connection whose writes are serialised, so any
// goroutine may send.
type Conn struct {
	ws           *websocket.Conn
	wmu          sync.Mutex
	writeTimeout time.Duration
}

// Dial opens a WebSocket to url (ws:// or wss://).
func Dial(ctx context.Context, url string, opts Options) (*Conn, error) {
	d := opts.Dialer
	timeout := opts.Timeout
	if d == nil {
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		d = &websocket.Dialer{HandshakeTimeout: timeout}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ws, resp, err := d.DialContext(ctx, url, opts.Header)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", url, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return &Conn{ws: ws, writeTimeout: opts.WriteTimeout}, nil
}

// WS returns the underlying connection, for tests that need to misbehave
// (binary frames, raw close frames, dropping the TCP connection). Writes
// through it bypass the write lock.
func (c *Conn) WS() *websocket.Conn { return c.ws }

// Send writes v as one JSON text frame.
func (c *Conn) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.WriteMessage(websocket.TextMessage, b)
}

// Write writes b, already encoded, as one text frame.
func (c *Conn) Write(b []byte) error {
	return c.WriteMessage(websocket.TextMessage, b)
}

// WriteMessage writes one frame of the given kind.
func (c *Conn) WriteMessage(kind int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeTimeout > 0 {
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	return c.ws.WriteMessage(kind, b)
}

// Read reads the next data frame. It must not be used once Listen runs.
func (c *Conn) Read() ([]byte, error) {
	_, data, err := c.ws.ReadMessage()
	return data, err
}

// CloseWith sends a close frame with code and text, then closes the
// connection without waiting for the answer.
func (c *Conn) CloseWith(code int, text string) error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.ws.Close()
}

// Close closes the connection at once, without a close frame.
func (c *Conn) Close() error { return c.ws.Close() }

// Frame is a decoded JSON frame.
type Frame map[string]any

// Str returns the string at k, or "".
func (f Frame) Str(k string) string { s, _ := f[k].(string); return s }

// Num returns the number at k as an int, or 0.
func (f Frame) Num(k string) int { n, _ := f[k].(float64); return int(n) }

// Obj returns the object at k, or nil.
func (f Frame) Obj(k string) Frame { m, _ := f[k].(map[string]any); return Frame(m) }

// List returns the objects of the array at k.
func (f Frame) List(k string) []Frame {
	l, _ := f[k].([]any)
	out := make([]Frame, len(l))
	for i, v := range l {
		m, _ := v.(map[string]any)
		out[i] = Frame(m)
	}
	return out
}

// ListenOptions configures Listen.
type ListenOptions struct {
	// Buffer is how many frames may wait to be taken; default 4096.
	Buffer int
	// Drop makes the reader drop frames when the buffer is full rather
	// than stop reading (for clients that stop looking at frames but must
	// keep answering pings and taking the close frame).
	Drop bool
}

// Client is a Conn whose frames are read in the background and decoded
// into F, a map type such as Frame (tests use their own, with their own
// accessors).
type Client[F ~map[string]any] struct {
	*Conn
	frames chan F
	done   chan struct{}

	mu        sync.Mutex
	closeCode int
	closeText string
	err       error
}

// ErrClosed is returned by waits that end because the connection did.
var ErrClosed = errors.New("connection closed")

// Listen starts reading c in the background.
func Listen[F ~map[string]any](c *Conn, opts ListenOptions) *Client[F] {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	cl := &Client[F]{Conn: c, frames: make(chan F, opts.Buffer), done: make(chan struct{})}
	go cl.readLoop(opts.Drop)
	return cl
}

func (c *Client[F]) readLoop(drop bool) {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode, c.closeText = ce.Code, ce.Text
			}
			c.err = err
			c.mu.Unlock()
			return
		}
		var f F
		if err := json.Unmarshal(data, &f); err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("server sent a frame that is not a JSON object: %q", data)
			c.mu.Unlock()
			_ = c.ws.Close()
			return
		}
		if drop {
			select {
			case c.frames <- f:
			default:
			}
		} else {
			c.frames <- f
		}
	}
}

// Frames returns the frames read, in order. It is never closed; use Done.
func (c *Client[F]) Frames() <-chan F { return c.frames }

// Done is closed when the connection has ended; every frame read before
// is in Frames by then.
func (c *Client[F]) Done() <-chan struct{} { return c.done }

// CloseStatus returns the close code and text the server sent (zero if
// none) and the error that ended reading. Valid once Done is closed.
func (c *Client[F]) CloseStatus() (code int, text string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeText, c.err
}

// Next returns the next frame, waiting at most wait.
func (c *Client[F]) Next(wait time.Duration) (F, error) {
	return c.WaitFor(wait, "any", func(F) bool { return true })
}

// WaitFor returns the first frame matching pred, discarding the others,
// waiting at most wait. Frames read before the connection ended are
// still looked at.
func (c *Client[F]) WaitFor(wait time.Duration, desc string, pred func(F) bool) (F, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case f := <-c.frames:
			if pred(f) {
				return f, nil
			}
		case <-c.done:
			select {
			case f := <-c.frames:
				if pred(f) {
					return f, nil
				}
				continue
			default:
			}
			_, _, err := c.CloseStatus()
			return nil, fmt.Errorf("no %s frame: %w (%v)", desc, ErrClosed, err)
		case <-timer.C:
			return nil, fmt.Errorf("no %s frame within %s", desc, wait)
		}
	}
}

// Expect returns the next frame of type typ, skipping frames of other
// types; an error frame (unless typ is "error") is an error.
func (c *Client[F]) Expect(wait time.Duration, typ string) (F, error) {
	f, err := c.WaitFor(wait, typ, func(f F) bool { t := typeOf(f); return t == typ || t == "error" })
	if err != nil {
		return nil, err
	}
	if typ != "error" && typeOf(f) == "error" {
		return f, fmt.Errorf("expected %s, got error %v", typ, map[string]any(f))
	}
	return f, nil
}

// WaitClose waits at most wait for the connection to end and returns the
// close code and text the server sent.
func (c *Client[F]) WaitClose(wait time.Duration) (code int, text string, err error) {
	select {
	case <-c.done:
		code, text, _ = c.CloseStatus()
		return code, text, nil
	case <-time.After(wait):
		return 0, "", fmt.Errorf("connection not closed within %s", wait)
	}
}

func typeOf[F ~map[string]any](f F) string { s, _ := f["type"].(string); return s }
