package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"runtime/debug"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
)

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
			c.close(c.srv.disconnectFor(reasonInternal))
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
			c.close(c.srv.disconnectFor(reasonInternal))
		}
		c.end(client)
	}()
	pongWait := 2 * c.srv.cfg.PingInterval
	_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		if !c.waitDrained() {
			return
		}
		// The wait may have outlasted the read deadline, through no fault
		// of the client's.
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		in, ok := c.read()
		if !ok {
			return
		}
		if in == nil {
			continue
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(pongWait))
		handle, ok := c.limit(in)
		if !ok {
			return
		}
		switch {
		case !handle:
		case onOwnStack(in.Type):
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.handle(client, in)
			}()
			<-done
		default:
			c.handle(client, in)
		}
	}
}

// onOwnStack reports whether a frame is handled on a short-lived goroutine
// while the reader waits. Starting a session, reading history or a list,
// accepting a chat: these read and write storage and encode whole sessions,
// which grows a goroutine's stack well past what a reader needs, and a
// reader parked afterwards keeps the grown stack for as long as its
// connection stays open (about 4 KiB per idle customer who started a
// session). The frequent frames stay on the reader: they only post to a
// session. The reader waits, so frames are still handled one at a time, in
// order.
func onOwnStack(typ string) bool {
	switch typ {
	case parley.FrameSend, parley.FrameTyping, parley.FrameRead:
		return false
	}
	return true
}

// end detaches the client, if any, and closes the connection once the
// writer is done.
func (c *wsConn) end(client *chat.Client) {
	c.stopExpiry()
	if client != nil {
		client.Detach()
	}
	c.close(c.srv.disconnectFor(reasonNormal))
	<-c.done
	if h := c.srv.hooks.ended; h != nil {
		h()
	}
	c.srv.untrack(c)
	c.srv.release(c) // done already when the close frame was written
}

// handle runs one frame through chat, containing any panic to that frame.
func (c *wsConn) handle(client *chat.Client, in *parley.Inbound) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("panic handling frame", "type", in.Type, "panic", r, "stack", string(debug.Stack()))
			c.sendError(in.Req, errors.New("panic"))
		}
	}()
	if !c.srv.admit(func() { client.Handle(in) }) {
		c.sendError(in.Req, errDraining)
	}
}

// read reads and decodes one frame. It returns ok=false when the connection
// is over, and a nil frame (after answering with an error) for a frame that
// could not be decoded.
func (c *wsConn) read() (*parley.Inbound, bool) {
	kind, data, err := c.readMessage()
	if err != nil {
		if errors.Is(err, errTooLarge) {
			c.close(c.srv.disconnectFor(reasonTooLarge))
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

// errTooLarge reports a message longer than parley.MaxFrameBytes.
var errTooLarge = errors.New("message too large")

// readMessage reads one message of at most parley.MaxFrameBytes. The limit
// is enforced here rather than with the library's SetReadLimit, which
// writes a close frame of its own from the reader goroutine (without our
// reason, and under the writer's feet).
func (c *wsConn) readMessage() (int, []byte, error) {
	kind, r, err := c.ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, parley.MaxFrameBytes+1))
	if err != nil {
		return 0, nil, err
	}
	if len(data) > parley.MaxFrameBytes {
		return 0, nil, errTooLarge
	}
	return kind, data, nil
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
	if err := checkStrict(data, in); err != nil {
		return in, err
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
		kind, data, err := c.readMessage()
		if err != nil {
			var ne interface{ Timeout() bool }
			switch {
			case errors.Is(err, errTooLarge):
				c.close(c.srv.disconnectFor(reasonTooLarge))
			case errors.As(err, &ne) && ne.Timeout():
				c.close(c.srv.disconnectFor(reasonHelloTimeout))
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
		var client *chat.Client
		if !c.srv.admit(func() { client, err = c.srv.authenticate(c, in) }) {
			err = errDraining
		}
		if err != nil {
			c.sendError(in.Req, err)
			c.close(disconnectForError(err))
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
