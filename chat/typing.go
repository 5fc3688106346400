package chat

import (
	"time"

	"github.com/parley-chat/parley/parley"
)

// cmdSignalFlush is posted by a signal timer: deliver the latest typing or
// read state held back for its sender.
const cmdSignalFlush = 101

// DefaultSignalInterval is the default Config.SignalInterval.
const DefaultSignalInterval = 250 * time.Millisecond

// signalKey names one stream of ephemeral pushes: typing or read, from
// one participant of a session.
type signalKey struct {
	kind int // cmdTyping or cmdRead
	from string
}

// signalState is what a session remembers of one stream.
type signalState struct {
	last    time.Time // when a push of this stream last went out
	pending *command  // the latest state held back, if any
	armed   bool      // a flush is scheduled
}

// coalesce delivers typing and read signals at most once per
// SignalInterval per sender and kind. Signals arriving faster are not
// answered with an error: the latest one replaces any held back, and it
// goes out when the interval has passed, so the other side always ends
// up with the sender's latest state and never more than a few pushes a
// second, however fast the sender floods. It runs on the session worker.
func (s *session) coalesce(c command, deliver func(command)) {
	interval := s.hub.cfg.SignalInterval
	now := s.hub.now()
	k := signalKey{c.kind, c.from.ID}
	if s.signals == nil {
		s.signals = make(map[signalKey]*signalState)
	}
	st := s.signals[k]
	if st == nil {
		st = &signalState{}
		s.signals[k] = st
	}
	if !st.armed && now.Sub(st.last) >= interval {
		st.last = now
		deliver(c)
		return
	}
	c.conn, c.req = nil, "" // nothing answers a held-back signal
	st.pending = &c
	if !st.armed {
		st.armed = true
		wait := interval - now.Sub(st.last)
		time.AfterFunc(wait, func() {
			s.ctrl.post(command{kind: cmdSignalFlush, from: c.from, seq: uint64(c.kind)})
		})
	}
}

// flushSignal delivers the state held back for the stream of c.
func (s *session) flushSignal(c command) {
	k := signalKey{int(c.seq), c.from.ID}
	st := s.signals[k]
	if st == nil {
		return
	}
	st.armed = false
	p := st.pending
	if p == nil {
		return
	}
	st.pending = nil
	st.last = s.hub.now()
	switch p.kind {
	case cmdTyping:
		s.pushTyping(*p)
	case cmdRead:
		s.pushRead(*p)
	}
}

// typing checks a typing signal and passes it on, coalesced.
func (s *session) typing(c command) {
	if c.from.Role == parley.RoleAgent && !s.rec.HasAgent(c.from.ID) {
		s.fail(c, parley.Errorf(parley.EForbidden, "You are not in session %s.", s.id))
		return
	}
	s.coalesce(c, s.pushTyping)
}

func (s *session) pushTyping(c command) {
	if c.from.Role == parley.RoleAgent && !s.rec.HasAgent(c.from.ID) {
		return // left while the signal was held back
	}
	frame := encode(parley.TypingFrame{Type: parley.FrameTyping, SessionID: s.id, From: c.from, Active: c.active})
	if c.from.Role == parley.RoleAgent {
		s.hub.reg.toCustomer(s.customerID, nil, frame)
	}
	for _, a := range s.rec.Agents {
		if a.ID != c.from.ID {
			s.hub.reg.toAgent(a.ID, nil, frame)
		}
	}
}

// read checks a read signal and passes it on, coalesced.
func (s *session) read(c command) {
	if c.seq > s.lastSeq {
		s.fail(c, parley.Errorf(parley.EBadRequest, "seq %d is beyond the last event (%d).", c.seq, s.lastSeq))
		return
	}
	s.coalesce(c, s.pushRead)
}

func (s *session) pushRead(c command) {
	frame := encode(parley.ReadFrame{Type: parley.FrameRead, SessionID: s.id, Seq: c.seq, From: c.from})
	for _, a := range s.rec.Agents {
		s.hub.reg.toAgent(a.ID, nil, frame)
	}
}
