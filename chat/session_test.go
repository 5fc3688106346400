package chat

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// TestPostRacingStopIsAnswered fills a session's mailbox while its worker
// is busy with an end, lets an operator's end wait on the full mailbox,
// then lets the session end. The waiting command must be answered (with
// conflict: the session has ended), and every queued command refused;
// before, the waiting post could land in the inbox after the session had
// drained it, and EndSession waited forever.
func TestPostRacingStopIsAnswered(t *testing.T) {
	h, _ := openHub(t)
	cl, rec := customer(t, h, "c")
	s := startSession(t, h, cl, rec)

	entered, release := make(chan struct{}), make(chan struct{})
	h.hooks.handle = func(batch []command) {
		if batch[0].req == "block" {
			close(entered)
			<-release
		}
	}
	me := cl.me
	s.post(command{kind: cmdEnd, conn: cl.conn, req: "block", from: me, reason: parley.EndCustomer})
	<-entered
	for range maxInbox {
		s.post(command{kind: cmdTyping, conn: cl.conn, req: "queued", from: me, active: true})
	}
	ended := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		ended <- h.EndSession(ctx, s.id, parley.EndAdmin)
	}()
	waitFor(t, "the operator's end to wait on the full mailbox", func() bool {
		s.box.mu.Lock()
		defer s.box.mu.Unlock()
		return s.box.waiters == 1
	})
	close(release)

	err := <-ended
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "EndSession answered %v", err)
	rec.waitFor(t, "a refusal of every queued command", func(frames []string) bool {
		n := 0
		for _, f := range frames {
			if strings.Contains(f, `"re":"queued"`) && strings.Contains(f, `"code":"conflict"`) {
				n++
			}
		}
		return n == maxInbox
	})
	assert.Contains(t, rec.wait(t, `"re":"block"`), `"kind":"ended"`)
}

// waitFor polls cond until it holds, failing after waitLimit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestStartIsAnnouncedFirst has a second tab of the customer send the
// moment the new session is registered. Its message must come after the
// queued event on every connection: seqs strictly increase.
func TestStartIsAnnouncedFirst(t *testing.T) {
	h, _ := openHub(t)
	tab1, rec1 := customer(t, h, "c")
	tab2, rec2 := customer(t, h, "c")
	h.hooks.spawned = func(*session) {
		tab2.Handle(&parley.Inbound{Type: parley.FrameSend, Text: "hi", ClientMsgID: "m1", Req: "send"})
	}
	tab1.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "start"})
	rec2.wait(t, `"re":"send"`)
	for i, rec := range []*recorder{rec1, rec2} {
		rec.waitFor(t, "both events", func(frames []string) bool { return len(eventSeqs(t, frames)) >= 2 })
		assert.Equal(t, []uint64{1, 2}, eventSeqs(t, rec.all()), "tab %d got events out of order", i+1)
	}
}

// TestSpawnRefusedOnceCloseBegan starts sessions from several connections
// while the hub closes. Once Close began, a start must be refused at once
// (unavailable) and register nothing, so no session goroutine starts
// while Close waits for them.
func TestSpawnRefusedOnceCloseBegan(t *testing.T) {
	h, _ := openHub(t)
	const starters, maxStarts = 6, 400
	var wg sync.WaitGroup
	began := make(chan struct{}, starters)
	refused := make([]bool, starters)
	for i := range starters {
		wg.Go(func() {
			for j := range maxStarts {
				cl, rec := customer(t, h, fmt.Sprintf("c%d-%d", i, j))
				cl.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "s"})
				if j == 0 {
					began <- struct{}{}
				}
				for _, f := range rec.all() {
					if strings.Contains(f, `"code":"unavailable"`) {
						refused[i] = true
						return
					}
				}
			}
		})
	}
	for range starters {
		<-began
	}
	require.NoError(t, h.Close())
	wg.Wait()
	for i, ok := range refused {
		assert.True(t, ok, "starter %d was never refused after Close", i)
	}

	cl, rec := customer(t, h, "late")
	cl.Handle(&parley.Inbound{Type: parley.FrameStart, Req: "late"})
	require.Len(t, rec.all(), 2, "the refusal must be immediate: %v", rec.all())
	f := decodeFrame(t, rec.all()[1])
	assert.Equal(t, parley.EUnavailable, f.Code)
	assert.Nil(t, h.openSessionOf("late"), "a refused start registers no session")
}

// TestCustomerCannotWhisper: a customer's whisper is a bad request, not a
// message shown to everyone.
func TestCustomerCannotWhisper(t *testing.T) {
	h, _ := openHub(t)
	cl, rec := customer(t, h, "c")
	s := startSession(t, h, cl, rec)
	f := do(t, cl, rec, parley.Inbound{Type: parley.FrameSend, Text: "psst", ClientMsgID: "w", Whisper: true})
	assert.Equal(t, parley.FrameError, f.Type)
	assert.Equal(t, parley.EBadRequest, f.Code)
	page, err := h.History(cl.Viewer(), s.id, 0, 0)
	require.NoError(t, err)
	require.Len(t, page.Events, 1, "nothing but the queued event is stored")
	assert.Equal(t, parley.KindQueued, page.Events[0].Kind)
}

// resumePage resumes and returns the seqs replayed and the resumed frame.
func resumePage(t *testing.T, cl *Client, rec *recorder, sid string, after uint64, limit int) ([]uint64, wireFrame) {
	t.Helper()
	req := fmt.Sprintf("r-%d-%d", after, limit)
	cl.Handle(&parley.Inbound{Type: parley.FrameResume, SessionID: sid, AfterSeq: after, Limit: limit, Req: req})
	rec.wait(t, `"type":"resumed","re":"`+req+`"`)
	frames := rec.all()
	first := -1
	for i, s := range frames {
		f := decodeFrame(t, s)
		if f.Re != req {
			continue
		}
		if first < 0 {
			require.Equal(t, parley.FrameSession, f.Type, "resume answered %s", s)
			first = i
			continue
		}
		require.Equal(t, parley.FrameResumed, f.Type)
		require.Equal(t, sid, f.SessionID)
		return eventSeqs(t, frames[first+1:i]), f
	}
	t.Fatalf("no resumed frame for %s", req)
	return nil, wireFrame{}
}

func TestResumeIsPagedAndHidesWhispers(t *testing.T) {
	h, db := openHub(t)
	cust, crec := customer(t, h, "c")
	s := startSession(t, h, cust, crec) // 1 queued
	agent, arec := addAgent(t, h, db, "a1")
	require.Equal(t, parley.FrameAssigned, do(t, agent, arec, parley.Inbound{Type: parley.FrameAccept, SessionID: s.id}).Type) // 2
	say := func(cl *Client, rec *recorder, text string, whisper bool) {
		f := do(t, cl, rec, parley.Inbound{Type: parley.FrameSend, SessionID: s.id, Text: text, ClientMsgID: text, Whisper: whisper})
		require.Equal(t, parley.FrameSent, f.Type, "send %q answered %+v", text, f)
	}
	say(cust, crec, "c3", false)
	say(agent, arec, "w4", true)
	say(agent, arec, "w5", true)
	say(agent, arec, "a6", false)
	say(agent, arec, "w7", true)

	type page struct {
		seqs    []uint64
		through uint64
		more    bool
	}
	walk := func(cl *Client, rec *recorder, limit int) []page {
		var out []page
		after := uint64(0)
		for {
			seqs, f := resumePage(t, cl, rec, s.id, after, limit)
			out = append(out, page{seqs, f.ThroughSeq, f.More})
			if !f.More {
				return out
			}
			after = f.ThroughSeq
		}
	}
	// The customer never sees whispers, yet through_seq covers them.
	assert.Equal(t, []page{{[]uint64{1, 2}, 2, true}, {[]uint64{3, 6}, 7, false}}, walk(cust, crec, 2))
	assert.Equal(t, []page{{[]uint64{1}, 1, true}, {[]uint64{2}, 2, true}, {[]uint64{3}, 3, true}, {[]uint64{6}, 7, false}}, walk(cust, crec, 1))
	// The agent sees everything.
	assert.Equal(t, []page{{[]uint64{1, 2, 3}, 3, true}, {[]uint64{4, 5, 6}, 6, true}, {[]uint64{7}, 7, false}}, walk(agent, arec, 3))
	assert.Equal(t, []page{{[]uint64{1, 2, 3, 4, 5, 6, 7}, 7, false}}, walk(agent, arec, 0))
	seqs, f := resumePage(t, cust, crec, s.id, 7, 0)
	assert.Empty(t, seqs)
	assert.Equal(t, uint64(7), f.ThroughSeq)
	assert.False(t, f.More)

	for _, bad := range []int{-1, parley.MaxResumeLimit + 1} {
		f := do(t, cust, crec, parley.Inbound{Type: parley.FrameResume, SessionID: s.id, Limit: bad})
		assert.Equal(t, parley.EBadRequest, f.Code, "limit %d", bad)
	}
}

// TestResumeDefaultPage: without a limit a long session resumes in pages
// of DefaultResumeLimit events, not all at once.
func TestResumeDefaultPage(t *testing.T) {
	h, _ := openHub(t)
	cl, rec := customer(t, h, "c")
	s := startSession(t, h, cl, rec)
	n := parley.DefaultResumeLimit + 10
	for i := range n {
		cl.Handle(&parley.Inbound{Type: parley.FrameSend, Text: "m", ClientMsgID: fmt.Sprint(i), Req: fmt.Sprintf("m%d", i)})
	}
	rec.wait(t, fmt.Sprintf(`"re":"m%d"`, n-1))
	last := uint64(n + 1)
	seqs, f := resumePage(t, cl, rec, s.id, 0, 0)
	require.Len(t, seqs, parley.DefaultResumeLimit)
	assert.Equal(t, uint64(1), seqs[0])
	assert.Equal(t, uint64(parley.DefaultResumeLimit), f.ThroughSeq)
	assert.True(t, f.More)
	seqs, f = resumePage(t, cl, rec, s.id, f.ThroughSeq, 0)
	require.Len(t, seqs, n+1-parley.DefaultResumeLimit)
	assert.Equal(t, uint64(parley.DefaultResumeLimit+1), seqs[0])
	assert.Equal(t, last, seqs[len(seqs)-1])
	assert.Equal(t, last, f.ThroughSeq)
	assert.False(t, f.More)
	var stored []parley.Event
	require.NoError(t, h.db.View(func(tx *storage.Tx) (err error) {
		stored, _, err = tx.Events(s.id, storage.EventQuery{AfterSeq: 1})
		return err
	}))
	assert.Len(t, stored, n)
}
