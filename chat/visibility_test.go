package chat

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// The tests of this file check that what a client is told is true for the
// command it sends the moment it is told: each acts from a point where
// storage and the live state could disagree.

// sessionAnswer decodes a session frame, or fails the test with the frame.
func sessionAnswer(t *testing.T, frame string) parley.Session {
	t.Helper()
	var f parley.SessionFrame
	require.NoError(t, json.Unmarshal([]byte(frame), &f))
	require.Equal(t, parley.FrameSession, f.Type, "the answer is %s", frame)
	return f.Session
}

// welcomeOpenSession decodes a customer welcome's open session.
func welcomeOpenSession(t *testing.T, frame string) *parley.Session {
	t.Helper()
	var w parley.CustomerWelcome
	require.NoError(t, json.Unmarshal([]byte(frame), &w))
	require.Equal(t, parley.FrameWelcome, w.Type, "the first frame is %s", frame)
	return w.OpenSession
}

// TestStartRightAfterEndIsStoredGetsNewSession: a second tab of the
// customer connects the moment the end of its session is stored, before
// the session is unregistered. Its welcome shows no open session, so it
// starts one at once: that start must get a new queued session. Before,
// it was answered with the session that had just ended.
func TestStartRightAfterEndIsStoredGetsNewSession(t *testing.T) {
	h, _ := openHub(t)
	tabA, recA := customer(t, h, "c")
	old := startSession(t, h, tabA, recA)

	recB := newRecorder()
	var once sync.Once
	h.hooks.committed = func(s *session, next *parley.SessionRecord) {
		if s != old || next.Open() {
			return
		}
		once.Do(func() {
			tabB, err := h.AttachCustomer(recB, parley.Customer{ID: "c", Name: "Customer c"}, "hello", "")
			require.NoError(t, err)
			if open := welcomeOpenSession(t, recB.all()[0]); open != nil {
				t.Errorf("the welcome shows session %s (%s) after its end was stored", open.ID, open.State)
			}
			tabB.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "b1"})
		})
	}
	tabA.Handle(&parley.Inbound{Type: parley.FrameEnd, Req: "end"})
	recA.wait(t, `"re":"end"`)

	got := sessionAnswer(t, recB.wait(t, `"re":"b1"`))
	assert.NotEqual(t, old.id, got.ID, "the start was answered with the session that ended")
	assert.Equal(t, parley.StateQueued, got.State)
}

// TestWelcomeDuringStartShowsOnlyALiveSession: a second tab of the
// customer connects the moment a start of its first tab is stored, before
// the new session is registered, and acts on its welcome at once: it
// resumes the open session the welcome shows, or starts one if it shows
// none. Either way it must end up in the new session. Before, the welcome
// showed the stored session, and the resume was refused with "Session ...
// has ended" because the session was not registered yet.
func TestWelcomeDuringStartShowsOnlyALiveSession(t *testing.T) {
	h, _ := openHub(t)
	tabA, recA := customer(t, h, "c")

	recB := newRecorder()
	var once sync.Once
	var started string
	h.hooks.startStored = func(id string) {
		once.Do(func() {
			started = id
			tabB, err := h.AttachCustomer(recB, parley.Customer{ID: "c", Name: "Customer c"}, "hello", "")
			require.NoError(t, err)
			if open := welcomeOpenSession(t, recB.all()[0]); open != nil {
				tabB.Handle(&parley.Inbound{Type: parley.FrameResume, SessionID: open.ID, Req: "b1"})
				return
			}
			tabB.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "b1"})
		})
	}
	tabA.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "start"})
	recA.wait(t, `"re":"start"`)

	got := sessionAnswer(t, recB.wait(t, `"re":"b1"`))
	assert.Equal(t, started, got.ID)
}

// onFrameConn is a recorder that calls on, once, with the first frame it
// is sent that contains match, before anything else the server does
// after sending it: as a client that acts the moment it reads the frame.
type onFrameConn struct {
	*recorder
	match string
	on    func(frame string)
	once  sync.Once
}

// Send runs on before it records the frames, so a test that waits for
// the frame finds on done.
func (c *onFrameConn) Send(frames ...[]byte) bool {
	for _, f := range frames {
		if strings.Contains(string(f), c.match) {
			c.once.Do(func() { c.on(string(f)) })
		}
	}
	return c.recorder.Send(frames...)
}

// TestSendCountedBeforeItsAck reads the hub's stats the moment a send is
// acknowledged, and again when its duplicate is: each must already count
// the message (a scrape of /metrics right after an ack must see it).
// Before, the counters went up only after the ack was sent, so a client
// (TestMetrics) could read them one short.
func TestSendCountedBeforeItsAck(t *testing.T) {
	h, _ := openHub(t)
	cust, crec := customer(t, h, "c")
	startSession(t, h, cust, crec)

	var atAck, atDup Stats
	conn := &onFrameConn{recorder: newRecorder(), match: `"re":"m1"`, on: func(string) { atAck = h.Stats() }}
	cust.conn = conn
	send(cust, "m1")
	conn.wait(t, `"re":"m1"`)
	assert.Equal(t, uint64(1), atAck.Messages, "messages counted when the ack was sent")

	dup := &onFrameConn{recorder: newRecorder(), match: `"re":"m2"`, on: func(string) { atDup = h.Stats() }}
	cust.conn = dup
	cust.Handle(&parley.Inbound{Type: parley.FrameSend, Req: "m2", Text: "text m1", ClientMsgID: "m1"})
	require.Contains(t, dup.wait(t, `"re":"m2"`), `"duplicate":true`)
	assert.Equal(t, uint64(1), atDup.Duplicates, "duplicates counted when the ack was sent")
}

// TestResumeDuringStartIsRetried: a second tab resumes a session the
// moment its start is stored, before it is registered (it learned the id
// from the sessions list, read from storage). The session has not ended:
// the resume is answered unavailable with a retry hint, and the retry,
// once the start is done, resumes it. Before, the answer was conflict,
// "Session ... has ended".
func TestResumeDuringStartIsRetried(t *testing.T) {
	h, _ := openHub(t)
	tabA, recA := customer(t, h, "c")
	tabB, recB := customer(t, h, "c")
	var started string
	h.hooks.startStored = func(id string) {
		started = id
		tabB.Handle(&parley.Inbound{Type: parley.FrameResume, SessionID: id, Req: "b1"})
	}
	tabA.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "start"})
	recA.wait(t, `"re":"start"`)

	f := decodeFrame(t, recB.wait(t, `"re":"b1"`))
	assert.Equal(t, parley.FrameError, f.Type)
	assert.Equal(t, parley.EUnavailable, f.Code, "the session has not ended")
	assert.Contains(t, recB.wait(t, `"re":"b1"`), `"retry_after_ms":200`)

	h.hooks.startStored = nil
	tabB.Handle(&parley.Inbound{Type: parley.FrameResume, SessionID: started, Req: "b2"})
	assert.Equal(t, started, sessionAnswer(t, recB.wait(t, `"re":"b2"`)).ID)
}

// TestConnectorSendToEndingSessionGoesToNewSession: a connector message
// reaches the customer's session right behind its end. The message was
// not stored in the ended session, so it goes to a new one. Before, the
// connector was answered conflict ("has ended") and had to send again.
func TestConnectorSendToEndingSessionGoesToNewSession(t *testing.T) {
	h, db := openHub(t)
	const key = "pk_test-connector-key"
	require.NoError(t, db.Update(t.Context(), func(tx *storage.Tx) error {
		return tx.PutAPIKey(&storage.APIKey{ID: parley.NewID(time.Now()), Name: "sms", Hash: APIKeyHash(key), Prefix: key[:10]})
	}))
	msg := func(cmid string) ConnectorMessage {
		m := ConnectorMessage{Text: "text " + cmid, ClientMsgID: cmid}
		m.Customer.ID, m.Customer.Name = "+15550100", "Pat"
		return m
	}
	first, err := h.ConnectorSend(t.Context(), key, msg("c1"))
	require.NoError(t, err)
	old := h.session(first.SessionID)
	require.NotNil(t, old)

	type result struct {
		f   parley.SentFrame
		err error
	}
	res := make(chan result, 1)
	var once sync.Once
	h.hooks.handle = func(batch []command) {
		if batch[0].kind != cmdEnd {
			return
		}
		once.Do(func() {
			go func() {
				f, err := h.ConnectorSend(t.Context(), key, msg("c2"))
				res <- result{f, err}
			}()
			// Hold the end until the message waits behind it.
			waitFor(t, "the message queued behind the end", func() bool { return old.box.len() > 0 })
		})
	}
	require.NoError(t, h.EndSession(t.Context(), old.id, parley.EndAdmin))
	r := <-res
	require.NoError(t, r.err)
	assert.NotEqual(t, old.id, r.f.SessionID, "the message went to a new session")
	assert.Equal(t, "c2", r.f.ClientMsgID)
	assert.Equal(t, []string{"c2"}, storedMessages(t, db, r.f.SessionID))
	assert.Equal(t, []string{"c1"}, storedMessages(t, db, old.id))
}

// TestAcceptOfStoppedSessionIsAnswered: an accept whose session stops
// (as during the hub's Close) just before the handover is answered, not
// left without a reply.
func TestAcceptOfStoppedSessionIsAnswered(t *testing.T) {
	h, db := openHub(t)
	cust, crec := customer(t, h, "c")
	s := startSession(t, h, cust, crec)
	ann, arec := addAgent(t, h, db, "ann")
	h.disp.hooks.handover = func(_, id string) {
		if id == s.id {
			s.box.close(errShuttingDown)
		}
	}
	ann.Handle(&parley.Inbound{Type: parley.FrameAccept, SessionID: s.id, Req: "a1"})
	typ, code := answerTo(t, arec, "a1")
	assert.Equal(t, parley.FrameError, typ)
	assert.Equal(t, parley.EUnavailable, code)
}
