package chat

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// failNext is a storage.Options.CommitHook that fails the next n commits,
// as a disk that is briefly full would.
type failNext struct{ n atomic.Int32 }

func (f *failNext) hook() error {
	if f.n.Add(-1) >= 0 {
		return errors.New("injected I/O error")
	}
	return nil
}

// openFaultHub is openHub with a commit hook.
func openFaultHub(t *testing.T, hook func() error) (*Hub, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "parley.db"), storage.Options{CommitHook: hook})
	require.NoError(t, err)
	h, err := Open(db, Config{QueueInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, h.Close())
		require.NoError(t, db.Close())
	})
	return h, db
}

// send hands the client a send frame with client_msg_id and req id.
func send(cl *Client, id string) {
	cl.Handle(&parley.Inbound{Type: parley.FrameSend, Req: id, Text: "text " + id, ClientMsgID: id})
}

// answer waits for the answer to req and returns its type and code.
func answerTo(t *testing.T, rec *recorder, req string) (typ, code string) {
	t.Helper()
	f := decodeFrame(t, rec.wait(t, `"re":"`+req+`"`))
	return f.Type, f.Code
}

// storedMessages returns the client_msg_ids of a session's messages, in
// stored order.
func storedMessages(t *testing.T, db *storage.DB, id string) []string {
	t.Helper()
	var out []string
	require.NoError(t, db.View(func(tx *storage.Tx) error {
		events, _, err := tx.Events(id, storage.EventQuery{AfterSeq: 1, Limit: parley.MaxHistoryLimit})
		for _, ev := range events {
			if ev.Kind == parley.KindMessage {
				out = append(out, ev.ClientMsgID)
			}
		}
		return err
	}))
	return out
}

// TestFailedSendRefusesSendsQueuedBehindIt queues sends behind one whose
// commit fails (the disk is full for that one commit only). The sends
// queued behind it from the same connection are refused with unavailable
// rather than stored, so that the client's resend, in order, stores
// m1, m2, m3 in that order. Before, m2 and m3 were stored right after m1
// failed, and the resend put m1 after them.
func TestFailedSendRefusesSendsQueuedBehindIt(t *testing.T) {
	var fail failNext
	h, db := openFaultHub(t, fail.hook)
	cl, rec := customer(t, h, "c")
	s := startSession(t, h, cl, rec)

	entered, release := make(chan struct{}), make(chan struct{})
	h.hooks.handle = func(batch []command) {
		if batch[0].req == "block" {
			close(entered)
			<-release
		}
	}
	cl.Handle(&parley.Inbound{Type: parley.FrameTyping, Req: "block"})
	<-entered
	send(cl, "m1")
	// A typing frame between them puts m1 in a batch of its own.
	cl.Handle(&parley.Inbound{Type: parley.FrameTyping, Req: "typing"})
	send(cl, "m2")
	send(cl, "m3")
	require.Equal(t, 4, s.box.len())
	fail.n.Store(1)
	close(release)

	for _, m := range []string{"m1", "m2", "m3"} {
		typ, code := answerTo(t, rec, m)
		assert.Equal(t, parley.FrameError, typ, "%s", m)
		assert.Equal(t, parley.EUnavailable, code, "%s", m)
	}
	assert.Empty(t, storedMessages(t, db, s.id))

	// The client resends from the first unacknowledged message, in order.
	for _, m := range []string{"m1", "m2", "m3"} {
		cl.Handle(&parley.Inbound{Type: parley.FrameSend, Req: m + "-again", Text: "text " + m, ClientMsgID: m})
		typ, _ := answerTo(t, rec, m+"-again")
		assert.Equal(t, parley.FrameSent, typ, "%s", m)
	}
	assert.Equal(t, []string{"m1", "m2", "m3"}, storedMessages(t, db, s.id))
}

// TestFailedSendFencesLaterSendsUntilResend: a send that arrives after
// the failed one was answered (the client wrote it before reading the
// error) is refused too, until the client resends the failed message; a
// second connection of the same customer is not held up.
func TestFailedSendFencesLaterSendsUntilResend(t *testing.T) {
	var fail failNext
	h, db := openFaultHub(t, fail.hook)
	cl, rec := customer(t, h, "c")
	s := startSession(t, h, cl, rec)
	other, orec := customer(t, h, "c")

	fail.n.Store(1)
	send(cl, "m1")
	typ, code := answerTo(t, rec, "m1")
	require.Equal(t, parley.FrameError, typ)
	require.Equal(t, parley.EUnavailable, code)

	send(cl, "m2")
	typ, code = answerTo(t, rec, "m2")
	assert.Equal(t, parley.FrameError, typ, "m2 was written before the client saw m1 fail")
	assert.Equal(t, parley.EUnavailable, code)
	assert.Contains(t, rec.wait(t, `"re":"m2"`), `\"m1\"`, "the error names the message to resend from")

	send(other, "o1")
	typ, _ = answerTo(t, orec, "o1")
	assert.Equal(t, parley.FrameSent, typ, "another connection is not fenced")

	for _, m := range []string{"m1", "m2"} {
		cl.Handle(&parley.Inbound{Type: parley.FrameSend, Req: m + "-again", Text: "text " + m, ClientMsgID: m})
		typ, _ := answerTo(t, rec, m+"-again")
		assert.Equal(t, parley.FrameSent, typ, "%s", m)
	}
	assert.Equal(t, []string{"o1", "m1", "m2"}, storedMessages(t, db, s.id))
	for _, f := range rec.all() {
		assert.False(t, strings.Contains(f, `"code":"internal"`), "%s", f)
	}
}

// TestStuckDiskIsUnavailable: while a commit hangs (a stuck disk), a send
// that cannot reach the writer within the update timeout is answered
// unavailable, not internal (it used to carry context.DeadlineExceeded,
// which clients saw as internal).
func TestStuckDiskIsUnavailable(t *testing.T) {
	var stuck atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	h, _ := openFaultHub(t, func() error {
		if stuck.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	})
	h.updateTimeout = 50 * time.Millisecond
	a, arec := customer(t, h, "a")
	startSession(t, h, a, arec)
	b, brec := customer(t, h, "b")
	startSession(t, h, b, brec)

	stuck.Store(true)
	send(a, "a1")
	<-entered
	send(b, "b1")
	typ, code := answerTo(t, brec, "b1")
	assert.Equal(t, parley.FrameError, typ)
	assert.Equal(t, parley.EUnavailable, code)
	close(release)
	typ, _ = answerTo(t, arec, "a1")
	assert.Equal(t, parley.FrameSent, typ, "the send whose commit was under way is stored")
}

// TestAcceptRetriedOnFailedAssignFindsSessionWaiting: an accept whose
// assignment cannot be stored is answered unavailable, and an accept the
// agent sends the moment it reads that answer takes the session. Before,
// the session was requeued only after the answer went out, so the retry
// could reach routing while the session was still reserved and be refused
// (CI saw TestStorageFaultEveryWritePathUnavailable fail this way). The
// retry is issued from inside the connection's Send, so the old order fails
// every time.
func TestAcceptRetriedOnFailedAssignFindsSessionWaiting(t *testing.T) {
	var fail failNext
	h, db := openFaultHub(t, fail.hook)
	cust, crec := customer(t, h, "c")
	s := startSession(t, h, cust, crec)

	a := &parley.Agent{ID: "ann", Name: "Ann", Email: "ann@example.com", Capacity: 2}
	require.NoError(t, db.Update(t.Context(), func(tx *storage.Tx) error { return tx.PutAgent(a) }))
	// The agent retries the moment it reads the failure (onFrameConn).
	var ann *Client
	conn := &onFrameConn{recorder: newRecorder(), match: `"re":"a1"`, on: func(string) {
		ann.Handle(&parley.Inbound{Type: parley.FrameAccept, SessionID: s.id, Req: "a2"})
	}}
	ann, err := h.AttachAgent(conn, "ann", 0, "")
	require.NoError(t, err)

	fail.n.Store(1)
	ann.Handle(&parley.Inbound{Type: parley.FrameAccept, SessionID: s.id, Req: "a1"})
	typ, code := answerTo(t, conn.recorder, "a1")
	require.Equal(t, parley.FrameError, typ)
	require.Equal(t, parley.EUnavailable, code)
	f := decodeFrame(t, conn.wait(t, `"re":"a2"`))
	assert.Equal(t, parley.FrameAssigned, f.Type, "the retry is answered %+v", f)
}
