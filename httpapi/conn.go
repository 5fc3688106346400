package httpapi

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/parley"
)

// wsConn is one WebSocket connection. A reader goroutine decodes frames and
// hands them to chat; a writer goroutine drains the outbound queue. The
// writer runs only while there is something to write, and writes
// everything queued with one system call, so an idle connection holds no
// goroutine or buffer for writing and a busy one pays one write per batch
// rather than per frame. It implements chat.Conn.
type wsConn struct {
	srv  *Server
	ws   *websocket.Conn
	bc   *batchConn
	role string // "customer" or "agent"
	tok  tokenState
	ip   string // the client's address, as limits count it
	// principal counts this connection against its customer or agent
	// (set at hello); cmds limits its commands. See limits.go.
	principal   *principal
	principalID string
	// released is set, under the server's limits lock, once the
	// connection no longer counts against any limit.
	released bool
	cmds     *rate.Limiter

	mu      sync.Mutex
	pending [][]byte // frames waiting for the writer
	// queued counts the bytes of pending frames and of the batch being
	// written; overSince is when it last rose above the outbound budget
	// (zero while within it). drained is signalled when queued falls to
	// the budget or the connection closes, for a reader held back.
	queued    int
	peak      int // the most queued at once, for tests and metrics
	overSince time.Time
	drained   *sync.Cond
	writing   bool       // a writer goroutine is running (or the connection is finished)
	pingDue   bool       // the writer should send a ping
	pongDue   bool       // the writer should answer a client's ping
	pong      []byte     // the payload of the latest ping to answer
	closing   bool       // a close was asked for
	reason    disconnect // why, once closing
	ping      *time.Timer
	closed    chan struct{} // closed once closing
	done      chan struct{} // closed when the connection is finished
}

// Send implements chat.Conn. It never blocks. The bytes queued for the
// client are counted against the outbound budget: while over it, the
// reader takes no further commands (see waitDrained), so the client's own
// replies cannot pile up. Pushes from elsewhere still queue; a client that
// stays over budget for longer than the write timeout, or whose queue,
// already over budget, would pass four budgets, is disconnected as too
// slow and will resume.
func (c *wsConn) Send(frames ...[]byte) bool {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	// A queue within budget takes anything: the reader issues a command
	// only then, so its answer (one page, however big) always fits.
	budget := c.srv.cfg.OutboundBytes
	slow := c.queued > budget && c.queued+n > 4*budget
	if !slow && c.queued+n > budget {
		now := time.Now()
		if c.overSince.IsZero() {
			c.overSince = now
		} else if now.Sub(c.overSince) > c.srv.cfg.WriteTimeout {
			slow = true
		}
	}
	if slow {
		queued := c.queued
		c.mu.Unlock()
		c.srv.log.Warn("disconnecting slow client", "role", c.role, "client", c.ip, "queued_bytes", queued)
		c.close(c.srv.disconnectFor(reasonSlow))
		return false
	}
	c.pending = append(c.pending, frames...)
	c.queued += n
	c.peak = max(c.peak, c.queued)
	c.wakeLocked()
	c.mu.Unlock()
	return true
}

// waitDrained holds the reader back while more than the outbound budget
// waits to be written, so a client that pipelines commands faster than it
// reads their replies is slowed down rather than buffered for. It reports
// false once the connection is closing.
func (c *wsConn) waitDrained() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.queued > c.srv.cfg.OutboundBytes && !c.closing {
		c.drained.Wait()
	}
	return !c.closing
}

// wrote accounts for n bytes the writer has put on the wire.
func (c *wsConn) wrote(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queued -= n
	if c.queued <= c.srv.cfg.OutboundBytes {
		c.overSince = time.Time{}
		c.drained.Broadcast()
	}
}

// wakeLocked starts the writer unless it is running. c.mu must be held.
func (c *wsConn) wakeLocked() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// Disconnect implements chat.Disconnecter.
func (c *wsConn) Disconnect(reason parley.DisconnectReason) { c.close(c.srv.disconnectFor(reason)) }

// close asks the writer to send a close frame with reason and end the
// connection. Only the first reason counts.
func (c *wsConn) close(reason disconnect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.closing, c.reason = true, reason
	close(c.closed)
	c.drained.Broadcast()
	c.wakeLocked()
}

func (c *wsConn) sendError(req string, err error) {
	c.Send(mustJSON(parley.NewErrorFrame(req, err)))
}

// queuePong asks the writer to answer a client's ping. It runs on the
// reader: writing the pong there would set the socket's write deadline
// under the writer's feet (the library's default handler writes with a
// one-second deadline, which would cut a long batch short). Only the
// latest ping needs an answer.
func (c *wsConn) queuePong(data string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.pongDue, c.pong = true, append(c.pong[:0], data...)
	c.wakeLocked()
	return nil
}

// closeReply answers a client's close frame through the writer, echoing
// its code, for the same reason as queuePong.
func (c *wsConn) closeReply(code int, _ string) error {
	c.close(disconnect{code: code})
	return nil
}

// pingTick asks the writer for a ping and schedules the next one.
func (c *wsConn) pingTick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.pingDue = true
	c.wakeLocked()
	c.ping.Reset(c.srv.cfg.PingInterval)
}

// writeLoop writes until the queue is empty, then exits; Send starts it
// again. After a close it finishes the connection and never exits idle, so
// no writer starts after that.
func (c *wsConn) writeLoop() {
	for {
		c.mu.Lock()
		frames, ping, closing, reason := c.pending, c.pingDue, c.closing, c.reason
		var pong []byte
		if c.pongDue {
			pong = append([]byte{}, c.pong...)
		}
		c.pending, c.pingDue, c.pongDue = nil, false, false
		if len(frames) == 0 && !ping && pong == nil && !closing {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if closing {
			// Deliver what was queued before a close, unless the client
			// was too slow to take it.
			if reason.code != CloseSlowConsumer {
				_ = c.writeBatch(frames, false, nil)
			}
			c.finish(reason)
			return
		}
		err := c.writeBatch(frames, ping, pong)
		n := 0
		for _, f := range frames {
			n += len(f)
		}
		c.wrote(n)
		var ne net.Error
		switch {
		case err == nil:
		case errors.As(err, &ne) && ne.Timeout():
			// The client took nothing for a whole write timeout.
			c.srv.log.Warn("disconnecting slow client", "role", c.role, "client", c.ip, "stalled", c.srv.cfg.WriteTimeout)
			c.close(c.srv.disconnectFor(reasonSlow))
		default:
			c.close(c.srv.disconnectFor(reasonInternal))
		}
	}
}

// writeBatch writes a pong if one is due (pong is non-nil), frames, and a
// ping if asked, with one flush. It is the only place, with finish, that
// writes to the socket, so the write deadline it sets holds for the whole
// batch.
func (c *wsConn) writeBatch(frames [][]byte, ping bool, pong []byte) error {
	deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
	_ = c.ws.SetWriteDeadline(deadline)
	c.bc.begin()
	var err error
	if pong != nil {
		err = c.ws.WriteControl(websocket.PongMessage, pong, deadline)
	}
	for _, f := range frames {
		if err != nil {
			break
		}
		err = c.ws.WriteMessage(websocket.TextMessage, f)
	}
	if err == nil && ping {
		err = c.ws.WriteControl(websocket.PingMessage, nil, deadline)
	}
	if ferr := c.bc.flush(); err == nil {
		err = ferr
	}
	return err
}

// finish sends the close frame and closes the socket, which ends the
// reader.
func (c *wsConn) finish(reason disconnect) {
	c.mu.Lock()
	if c.ping != nil {
		c.ping.Stop()
	}
	c.mu.Unlock()
	c.srv.release(c)
	_ = c.ws.WriteControl(websocket.CloseMessage, reason.closeMessage(), time.Now().Add(time.Second))
	_ = c.ws.Close()
	close(c.done)
}

// serveWS upgrades the request and starts the connection's reader; the
// handler returns at once so no request state outlives the upgrade.
func (s *Server) serveWS(role string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.shuttingDown() {
			writeError(w, parley.Errorf(parley.EUnavailable, "Server is shutting down."))
			return
		}
		ip := clientIP(r)
		if err := s.admitConn(role, ip); err != nil {
			writeError(w, err)
			return
		}
		hw := &hijackWriter{ResponseWriter: w}
		ws, err := s.upgrader.Upgrade(hw, r, nil)
		if err != nil {
			s.unadmit(role, ip)
			return // the upgrader has answered
		}
		c := &wsConn{
			srv:    s,
			ws:     ws,
			bc:     hw.conn,
			role:   role,
			tok:    tokenState{ip: ip},
			ip:     ip,
			cmds:   s.newCommandLimiter(),
			closed: make(chan struct{}),
			done:   make(chan struct{}),
		}
		c.drained = sync.NewCond(&c.mu)
		c.mu.Lock()
		c.ping = time.AfterFunc(s.cfg.PingInterval, c.pingTick)
		c.mu.Unlock()
		if !s.track(c) {
			c.close(s.disconnectFor(reasonShutdown))
		}
		ws.SetPingHandler(c.queuePong)
		ws.SetCloseHandler(c.closeReply)
		s.log.Debug("websocket opened", "role", role, "client", ip, "request_id", requestID(r))
		go c.readLoop()
	}
}

// hijackWriter hands the upgrader a batchConn in place of the raw
// connection.
type hijackWriter struct {
	http.ResponseWriter
	conn *batchConn
}

// Hijack implements http.Hijacker.
func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: conn}
	return h.conn, brw, nil
}

// batchBufs holds write buffers between batches, so idle connections hold
// none.
var batchBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// batchConn buffers writes between begin and flush, so the frames of one
// batch leave in one system call. Outside a batch (the upgrade response,
// the final close frame), writes go straight through. Every write after
// the upgrade happens on the connection's writer goroutine.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf *bufio.Writer
}

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf != nil {
		return b.buf.Write(p)
	}
	return b.Conn.Write(p)
}

// begin starts buffering writes.
func (b *batchConn) begin() {
	w := batchBufs.Get().(*bufio.Writer)
	w.Reset(b.Conn)
	b.mu.Lock()
	b.buf = w
	b.mu.Unlock()
}

// flush writes what was buffered since begin and stops buffering.
func (b *batchConn) flush() error {
	b.mu.Lock()
	w := b.buf
	b.buf = nil
	err := w.Flush()
	b.mu.Unlock()
	w.Reset(nil)
	batchBufs.Put(w)
	return err
}
