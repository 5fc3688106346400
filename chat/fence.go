package chat

import "github.com/parley-chat/parley/parley"

// A send fence keeps one connection's messages in the order it sent them
// across a storage failure. When storing a connection's send fails (the
// disk is full, or a commit failed), later sends from that connection may
// already be on their way: queued in the session's mailbox, or written by
// the client before it read the error. Storing those would put message
// i+1 before the client's retry of message i. So the session fences the
// connection at the client_msg_id of its first failed send and answers
// every later send of that connection with unavailable, without storing
// it, until the client sends that client_msg_id again: the start of its
// resend, in order, from the first unacknowledged message. Sends without a
// client_msg_id cannot be recognised when resent, so a failure of one sets
// no fence; clients that need ordered retries set client_msg_id.
//
// Fences are owned by the session's worker. A fence lasts until it is
// lifted or the session ends; a connection that goes away without
// resending leaves its entry behind until then (a few bytes).

// fenced answers c with unavailable and reports true if c's connection is
// fenced at another client_msg_id; a send carrying the fence's
// client_msg_id lifts the fence and goes on to be stored.
func (s *session) fenced(c command) bool {
	at, ok := s.fences[c.conn]
	if !ok {
		return false
	}
	if c.cmid == at {
		delete(s.fences, c.conn)
		return false
	}
	s.fail(c, parley.Errorf(parley.EUnavailable,
		"An earlier message (client_msg_id %q) was not stored; resend from it, in order.", at))
	return true
}

// fence records, for each connection among failed (sends whose storing
// failed, in order) that is not fenced yet, the client_msg_id of its first
// failed send.
func (s *session) fence(failed []command) {
	for _, c := range failed {
		if c.conn == nil || c.cmid == "" {
			continue
		}
		if _, ok := s.fences[c.conn]; ok {
			continue
		}
		if s.fences == nil {
			s.fences = make(map[Conn]string)
		}
		s.fences[c.conn] = c.cmid
	}
}
