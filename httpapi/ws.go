package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

// wsConn is one WebSocket connection: a reader goroutine that decodes frames
// and hands them to chat, and a writer goroutine that drains a bounded
// outbound queue. It implements chat.Conn.
type wsConn struct {
	srv  *Server
	ws   *websocket.Conn
	role string // "customer" or "agent"

	// The outbound queue: frames waiting for the writer, and how many
	// Send calls they came from. It grows only while a client is behind,
	// so an idle connection costs almost nothing.
	mu        sync.Mutex
	pending   [][]byte
	sends     int
	wake      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	reason    parley.Disconnect // set once, before closed is closed
	writerEnd chan struct{}
}

// Send implements chat.Conn. It never blocks: a client whose queue is full
// is disconnected as too slow and will resume.
func (c *wsConn) Send(frames ...[]byte) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	c.mu.Lock()
	if c.sends >= c.srv.cfg.OutboundQueue {
		c.mu.Unlock()
		c.srv.log.Warn("disconnecting slow client", "role", c.role, "remote", c.ws.RemoteAddr().String())
		c.close(parley.DisconnectSlow)
		return false
	}
	c.pending = append(c.pending, frames...)
	c.sends++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// takePending removes and returns every queued frame.
func (c *wsConn) takePending() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	frames := c.pending
	c.pending, c.sends = nil, 0
	return frames
}

// Disconnect implements chat.Disconnecter.
func (c *wsConn) Disconnect(reason parley.Disconnect) { c.close(reason) }

// close asks the writer to send a close frame with reason and end the
// connection. Only the first reason counts.
func (c *wsConn) close(reason parley.Disconnect) {
	c.closeOnce.Do(func() {
		c.reason = reason
		close(c.closed)
	})
}

func (c *wsConn) sendError(req string, err error) {
	c.Send(mustJSON(parley.NewErrorFrame(req, err)))
}

// serveWS upgrades the request and starts the connection's goroutines; the
// handler returns at once so no request state outlives the upgrade.
func (s *Server) serveWS(role string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.shuttingDown() {
			writeError(w, parley.Errorf(parley.EUnavailable, "Server is shutting down."))
			return
		}
		ws, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader has answered
		}
		c := &wsConn{
			srv:       s,
			ws:        ws,
			role:      role,
			wake:      make(chan struct{}, 1),
			closed:    make(chan struct{}),
			writerEnd: make(chan struct{}),
		}
		if !s.track(c) {
			c.close(parley.DisconnectShutdown)
		}
		ws.SetReadLimit(parley.MaxFrameBytes)
		go c.writeLoop()
		go c.readLoop()
	}
}

func (c *wsConn) writeLoop() {
	defer close(c.writerEnd)
	ping := time.NewTicker(c.srv.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.wake:
			if err := c.write(c.takePending()); err != nil {
				c.close(parley.DisconnectInternal)
				c.finish()
				return
			}
		case <-ping.C:
			deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
			if err := c.ws.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
				c.close(parley.DisconnectInternal)
				c.finish()
				return
			}
		case <-c.closed:
			// Deliver what was queued before a close, unless the client
			// was too slow to take it.
			if c.reason != parley.DisconnectSlow {
				c.drain()
			}
			c.finish()
			return
		}
	}
}

// drain writes whatever is still queued, without waiting for more.
func (c *wsConn) drain() {
	_ = c.write(c.takePending())
}

func (c *wsConn) write(frames [][]byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	for _, f := range frames {
		if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
			return err
		}
	}
	return nil
}

// finish sends the close frame and closes the socket, which ends the reader.
func (c *wsConn) finish() {
	msg := websocket.FormatCloseMessage(c.reason.Code, c.reason.Reason)
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = c.ws.Close()
}

// readLoop authenticates the connection, then hands it to a fresh
// goroutine for the rest of its life: hello (token checks, the welcome)
// grows the stack, and an idle connection would otherwise keep that stack
// for as long as it stays open.
func (c *wsConn) readLoop() {
	var client *chat.Client
	handedOff := false
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("panic in connection reader", "panic", r, "stack", string(debug.Stack()))
			c.close(parley.DisconnectInternal)
		}
		if !handedOff {
			c.end(client)
		}
	}()
	client = c.hello()
	if client == nil {
		return
	}
	handedOff = true
	go c.readFrames(client)
}

// readFrames reads and handles frames until the connection ends.
func (c *wsConn) readFrames(client *chat.Client) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("panic in connection reader", "panic", r, "stack", string(debug.Stack()))
			c.close(parley.DisconnectInternal)
		}
		c.end(client)
	}()
	pongWait := 2 * c.srv.cfg.PingInterval
	_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		in, ok := c.read()
		if !ok {
			return
		}
		if in == nil {
			continue
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		c.handle(client, in)
	}
}

// end detaches the client, if any, and closes the connection once the
// writer is done.
func (c *wsConn) end(client *chat.Client) {
	if client != nil {
		client.Detach()
	}
	c.close(parley.Disconnect{Code: websocket.CloseNormalClosure, Reason: ""})
	<-c.writerEnd
	c.srv.untrack(c)
}

// handle runs one frame through chat, containing any panic to that frame.
func (c *wsConn) handle(client *chat.Client, in *parley.Inbound) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("panic handling frame", "type", in.Type, "panic", r, "stack", string(debug.Stack()))
			c.sendError(in.Req, errors.New("panic"))
		}
	}()
	client.Handle(in)
}

// read reads and decodes one frame. It returns ok=false when the connection
// is over, and a nil frame (after answering with an error) for a frame that
// could not be decoded.
func (c *wsConn) read() (*parley.Inbound, bool) {
	kind, data, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			c.close(parley.DisconnectTooLarge)
		}
		return nil, false
	}
	if kind != websocket.TextMessage {
		c.sendError("", parley.Errorf(parley.EBadRequest, "Frames must be JSON text frames."))
		return nil, true
	}
	in, err := decodeFrame(data)
	if err != nil {
		c.sendError(in.Req, err)
		return nil, true
	}
	return in, true
}

// decodeFrame decodes a client frame. On error it still returns the frame
// with whatever req could be recovered, so the error can answer it.
func decodeFrame(data []byte) (*parley.Inbound, error) {
	in := new(parley.Inbound)
	if err := json.Unmarshal(data, in); err != nil {
		var probe struct {
			Req string `json:"req"`
		}
		if json.Unmarshal(data, &probe) == nil && len(probe.Req) <= parley.MaxReqBytes {
			in.Req = probe.Req
		} else {
			in.Req = ""
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return in, parley.Errorf(parley.EBadRequest, "Malformed JSON: %v.", err)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return in, parley.Errorf(parley.EBadRequest, "Field %q has the wrong type.", typ.Field)
		}
		return in, parley.Errorf(parley.EBadRequest, "Frame must be a JSON object.")
	}
	if len(in.Req) > parley.MaxReqBytes {
		in.Req = ""
		return in, parley.Errorf(parley.EBadRequest, "req is longer than %d bytes.", parley.MaxReqBytes)
	}
	if in.Type == "" {
		return in, parley.Errorf(parley.EBadRequest, "Frame has no type.")
	}
	return in, nil
}

// hello waits for the hello frame and authenticates it. Frames other than
// hello get an error and the wait goes on, up to the hello timeout.
func (c *wsConn) hello() *chat.Client {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.HelloTimeout))
	for {
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				c.close(parley.DisconnectTooLarge)
			case errors.As(err, &ne) && ne.Timeout():
				c.close(parley.DisconnectHelloTimeout)
			}
			return nil
		}
		if kind != websocket.TextMessage {
			c.sendError("", parley.Errorf(parley.EBadRequest, "Frames must be JSON text frames."))
			continue
		}
		in, err := decodeFrame(data)
		if err != nil {
			c.sendError(in.Req, err)
			continue
		}
		if in.Type != parley.FrameHello {
			c.sendError(in.Req, parley.Errorf(parley.EBadRequest, "Send hello first."))
			continue
		}
		client, err := c.srv.authenticate(c, in)
		if err != nil {
			c.sendError(in.Req, err)
			c.close(parley.DisconnectFor(err))
			return nil
		}
		return client
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"type":"error","code":"internal","message":"Internal error."}`)
	}
	return b
}
