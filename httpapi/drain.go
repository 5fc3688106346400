package httpapi

import (
	"context"
	"sync"

	"github.com/parley-chat/parley/parley"
)

// A graceful stop answers every command a connection handed to chat on
// that connection before closing it with 1001. Shutdown therefore goes in
// this order:
//
//  1. Refuse new WebSocket upgrades with 503 (draining).
//  2. Stop handing frames to chat: a reader that reads a frame after this
//     answers it with unavailable itself. stopHanding waits until no
//     reader is in the middle of handing one over.
//  3. Close the hub: every session finishes the command it is handling
//     and refuses, with unavailable, what is still queued; both answers go
//     to the connections, which are still open.
//  4. Close every connection with 1001; each writer first delivers what is
//     queued for it (acknowledgements included).
//
// So a client gets an answer, an acknowledgement or an error, for every
// frame the server read from it, and a message is stored only if its
// acknowledgement was sent. Frames still in flight when the close frame
// leaves were never read: nothing was stored for them, and the client
// resends them after reconnecting.

// handoff gates the readers' hand-over of frames to chat.
type handoff struct {
	mu      sync.RWMutex // held for reading while a frame is handed over
	stopped bool
}

// errDraining answers frames read once the server stopped handing them over.
var errDraining = parley.Errorf(parley.EUnavailable, "Server is shutting down; reconnect and resume.")

// admit runs fn, which hands a frame to chat, unless shutdown has stopped
// the hand-over, and reports whether it ran.
func (s *Server) admit(fn func()) bool {
	s.handoff.mu.RLock()
	defer s.handoff.mu.RUnlock()
	if s.handoff.stopped {
		return false
	}
	fn()
	return true
}

// stopHanding stops every reader from handing frames to chat and waits
// until none is handing one over, or ctx ends. A reader handing over a
// send can wait on a full session mailbox; the sessions keep working, so
// that wait ends.
func (s *Server) stopHanding(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.handoff.mu.Lock()
		s.handoff.stopped = true
		s.handoff.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
