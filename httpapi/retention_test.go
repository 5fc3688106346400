package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

const retDay = 24 * time.Hour

// retHarness is a harness with a janitor that purges sessions that ended
// more than 90 days ago, checking every interval (a negative interval
// means no janitor, so only admin commands purge).
func retHarness(t *testing.T, interval time.Duration) *harness {
	t.Helper()
	h := newHarness(t, noRateLimits) // live traffic sends as fast as it can
	if interval > 0 {
		j := admin.StartJanitor(h.db, admin.JanitorConfig{
			Retention: parley.DefaultRetentionDays * retDay, PurgeInterval: interval, Now: h.clock.now,
		})
		t.Cleanup(func() { _ = j.Close() })
	}
	return h
}

// retEnd ends the customer's open session and waits for the ended event.
func retEnd(h *harness, c *client) {
	c.t.Helper()
	f := h.do(c, frame{"type": "end"})
	require.Equal(c.t, "ended", f.obj("event").str("kind"), "end answered %v", f)
}

// retConversation starts a session for customer id, says each text in it
// and ends it unless open, and returns the session id.
func retConversation(h *harness, id string, open bool, texts ...string) (string, *client) {
	h.t.Helper()
	c, _ := h.customer(id)
	sid := h.startSession(c).str("id")
	for _, text := range texts {
		h.say(c, "", text)
	}
	if !open {
		retEnd(h, c)
	}
	return sid, c
}

// retExists reports whether the session is still stored. It is safe to
// call from require.Eventually's condition goroutine.
func retExists(h *harness, id string) bool {
	_, err := h.admin.ShowSession(context.Background(), admin.SessionArgs{ID: id})
	if parley.ErrorCode(err) == parley.ENotFound {
		return false
	}
	assert.NoError(h.t, err)
	return true
}

// retCheck runs the database check and requires it to find nothing wrong.
func retCheck(t *testing.T, db *storage.DB) storage.CheckReport {
	t.Helper()
	rep, err := db.Check()
	require.NoError(t, err)
	require.Empty(t, rep.Problems)
	return rep
}

// retAudit returns the audit log, newest first, and requires that none of
// texts appears anywhere in its JSON.
func retAudit(t *testing.T, a *admin.Admin, texts ...string) []parley.AuditEntry {
	t.Helper()
	es, err := a.AuditLog(context.Background(), admin.AuditArgs{})
	require.NoError(t, err)
	js, err := json.Marshal(es)
	require.NoError(t, err)
	for _, text := range texts {
		assert.NotContains(t, string(js), text, "message text in the audit log")
	}
	return es
}

// retNotFound checks that the customer can no longer read the session over
// WebSocket or HTTP.
func retNotFound(h *harness, c *client, customerID, sid string) {
	h.t.Helper()
	assert.Equal(h.t, "not_found", h.errCode(c, frame{"type": "history", "session_id": sid}))
	code, _, _ := h.get("/v1/customer/sessions/"+sid+"/events", h.customerToken(customerID))
	assert.Equal(h.t, http.StatusNotFound, code)
	code, _, _ = h.get("/v1/customer/sessions/"+sid+"/transcript", h.customerToken(customerID))
	assert.Equal(h.t, http.StatusNotFound, code)
}

// TestRetentionWindows moves the clock across the 14-day customer window and
// the 90-day retention with the janitor running: what customers list, what
// they can still read by id, and what the janitor purges and keeps (newer
// sessions, open sessions, and held customers until the hold is released).
func TestRetentionWindows(t *testing.T) {
	h := retHarness(t, 5*time.Millisecond)
	ctx := context.Background()
	const (
		oldText  = "ret: a question from day 0"
		newText  = "ret: a question from day 2"
		heldText = "ret: evidence under hold"
		openText = "ret: still waiting after 90 days"
	)

	// Day 0: a conversation that ends, one of a customer put under a legal
	// hold, and one that stays open.
	s1, _ := retConversation(h, "ret-a", false, oldText)
	sHeld, _ := retConversation(h, "ret-held", false, heldText)
	sOpen, _ := retConversation(h, "ret-open", true, openText)
	_, err := h.admin.AddHold(ctx, admin.HoldArgs{CustomerID: "ret-held", Reason: "case 7"})
	require.NoError(t, err)

	// Day 2: another conversation of the first customer.
	h.clock.advance(2 * retDay)
	s2, _ := retConversation(h, "ret-a", false, newText)

	// Day 15: s1 ended 15 days ago and is no longer listed, s2 ended 13
	// days ago and is; s1 is still readable by id.
	h.clock.advance(13 * retDay)
	c, _ := h.customer("ret-a")
	tok := h.customerToken("ret-a")
	assert.Equal(t, []string{s2}, sessionIDs(h.do(c, frame{"type": "sessions"}).list("sessions")))
	code, f := h.getJSON("/v1/customer/sessions", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, []string{s2}, sessionIDs(f.list("sessions")))
	assert.Equal(t, 1, countText(h.history(c, s1), oldText))
	code, f = h.getJSON("/v1/customer/sessions/"+s1+"/events", tok)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 1, countText(f.list("events"), oldText))
	assert.True(t, retExists(h, s1), "the janitor purges nothing before 90 days")

	// Day 91: s1 and the held session ended 91 days ago, s2 89 days ago.
	// The janitor purges s1 only; its audit entry is written at the end of
	// its pass, so once it is there the pass has also seen (and kept) the
	// held session.
	h.clock.advance(76 * retDay)
	require.Eventually(t, func() bool {
		es, err := h.admin.AuditLog(ctx, admin.AuditArgs{})
		for _, e := range es {
			if err == nil && e.Action == parley.AuditPurge && e.Actor == "janitor" {
				return true
			}
		}
		return false
	}, waitTime, 5*time.Millisecond, "no janitor purge")
	assert.False(t, retExists(h, s1))
	retNotFound(h, c, "ret-a", s1)
	assert.Equal(t, 1, countText(h.history(c, s2), newText), "ended 89 days ago: kept")
	assert.True(t, retExists(h, sHeld), "held customer: kept")
	assert.True(t, retExists(h, sOpen), "open session: never purged")
	es := retAudit(t, h.admin, oldText, newText, heldText, openText)
	require.NotEmpty(t, es)
	assert.Equal(t, parley.AuditPurge, es[0].Action)
	assert.Equal(t, "janitor", es[0].Actor)
	assert.Equal(t, 1, es[0].Sessions)
	assert.Equal(t, 3, es[0].Events, "queued, message, ended")
	assert.Positive(t, es[0].Bytes)
	retCheck(t, h.db)

	// Releasing the hold lets the janitor purge the held session.
	_, err = h.admin.RemoveHold(ctx, admin.HoldArgs{CustomerID: "ret-held"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return !retExists(h, sHeld) }, waitTime, 5*time.Millisecond)
	held, _ := h.customer("ret-held")
	retNotFound(h, held, "ret-held", sHeld)

	// Day 93: s2 is past 90 days too.
	h.clock.advance(2 * retDay)
	require.Eventually(t, func() bool { return !retExists(h, s2) }, waitTime, 5*time.Millisecond)
	retNotFound(h, c, "ret-a", s2)

	// The open session, 93 days old, is intact and still the customer's.
	open, w := h.customer("ret-open")
	assert.Equal(t, sOpen, w.obj("open_session").str("id"))
	assert.Equal(t, 1, countText(h.history(open, sOpen), openText))
	h.say(open, "", "ret: and still here")
	retCheck(t, h.db)
	retAudit(t, h.admin, oldText, newText, heldText, openText)
}

// TestRetentionAdminEndAndErase ends a live session as an operator, then
// erases a customer with an open session and refuses to erase one under a
// legal hold.
func TestRetentionAdminEndAndErase(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ag, _ := h.fastAgent("Ret", 3)
	h.statusOf(ag, "available")

	cust, _ := h.customer("ret-end")
	sid := h.startSession(cust).str("id")
	require.Equal(t, sid, assignedID(ag))
	h.say(cust, "", "ret: please end me")

	d, err := h.admin.EndSession(ctx, admin.SessionArgs{ID: sid})
	require.NoError(t, err)
	assert.Equal(t, parley.StateEnded, d.Session.State)
	assert.Equal(t, parley.EndAdmin, d.Session.EndReason)
	for _, c := range []*client{cust, ag} {
		ev := c.expectEvent("ended")
		assert.Equal(t, parley.EndAdmin, ev.str("reason"))
		assert.Equal(t, "system", ev.obj("from").str("role"))
	}
	h.waitActive("Ret", 0)
	_, err = h.admin.EndSession(ctx, admin.SessionArgs{ID: sid})
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "ending twice")

	// Erasure: an ended and an open session; the open one is ended first,
	// with both sides told.
	// Wait for the assignment before ending: a customer who ends first
	// ends a queued session that no agent ever gets.
	first, _ := h.customer("ret-erase")
	old := h.startSession(first).str("id")
	require.Equal(t, old, assignedID(ag))
	h.say(first, "", "ret: erase me 1")
	retEnd(h, first)
	ag.expectEvent("ended")
	eraser, _ := h.customer("ret-erase")
	open := h.startSession(eraser).str("id")
	require.Equal(t, open, assignedID(ag))
	h.say(eraser, "", "ret: erase me 2")

	dry, err := h.admin.Erase(ctx, admin.EraseArgs{CustomerID: "ret-erase", DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 2, dry.Sessions)
	assert.ElementsMatch(t, []string{old, open}, dry.IDs)
	assert.True(t, retExists(h, open))

	// A hold blocks erasure until released.
	_, err = h.admin.AddHold(ctx, admin.HoldArgs{CustomerID: "ret-erase", Reason: "litigation"})
	require.NoError(t, err)
	_, err = h.admin.Erase(ctx, admin.EraseArgs{CustomerID: "ret-erase"})
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err))
	assert.True(t, retExists(h, old))
	_, err = h.admin.RemoveHold(ctx, admin.HoldArgs{CustomerID: "ret-erase"})
	require.NoError(t, err)

	res, err := h.admin.Erase(ctx, admin.EraseArgs{CustomerID: "ret-erase"})
	require.NoError(t, err)
	assert.Equal(t, dry.Sessions, res.Sessions)
	assert.Equal(t, dry.Events+1, res.Events, "the ended event the erasure adds is erased and counted too")
	for _, c := range []*client{eraser, ag} {
		assert.Equal(t, parley.EndAdmin, c.expectEvent("ended").str("reason"))
	}
	assert.False(t, retExists(h, old))
	assert.False(t, retExists(h, open))
	retNotFound(h, eraser, "ret-erase", open)
	list, err := h.admin.Sessions(ctx, admin.SessionsArgs{CustomerID: "ret-erase"})
	require.NoError(t, err)
	assert.Empty(t, list)
	h.waitActive("Ret", 0)

	// The customer can start over.
	assert.NotEqual(t, open, h.startSession(eraser).str("id"))

	es := retAudit(t, h.admin, "ret: please end me", "ret: erase me 1", "ret: erase me 2")
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	// Newest first: the erasure, the end it made, the hold released and
	// placed, and the first admin end.
	assert.Equal(t, []string{parley.AuditErase, parley.AuditEnd, parley.AuditHoldRm, parley.AuditHoldAdd, parley.AuditEnd}, actions)
	assert.Equal(t, "ret-erase", es[0].CustomerID)
	assert.Equal(t, 2, es[0].Sessions)
	assert.Equal(t, res.Events, es[0].Events)
	assert.Equal(t, open, es[1].SessionID)
	assert.Equal(t, sid, es[4].SessionID)
	retCheck(t, h.db)
}

// retPump sends messages on one connection until stop is closed, waiting for
// each acknowledgement, and records the texts acknowledged. Agents write to
// sessions in turn. It never fails the test itself (it runs off the test
// goroutine); it returns an error instead.
type retPump struct {
	c        *client
	name     string
	sessions []string // for agents; empty for customers
	mu       sync.Mutex
	acked    []string
}

func (p *retPump) ackedTexts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

func (p *retPump) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

func (p *retPump) run(stop <-chan struct{}) error {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		text := fmt.Sprintf("%s says %d", p.name, i)
		req := fmt.Sprintf("%s-%d", p.name, i)
		f := frame{"type": "send", "text": text, "client_msg_id": req, "req": req}
		if len(p.sessions) > 0 {
			f["session_id"] = p.sessions[i%len(p.sessions)]
		}
		if err := p.c.conn.WriteJSON(f); err != nil {
			return fmt.Errorf("%s: write: %w", p.name, err)
		}
		deadline := time.After(waitTime)
	wait:
		for {
			select {
			case g := <-p.c.frames:
				if g.str("re") != req {
					continue
				}
				if g.str("type") != "sent" {
					return fmt.Errorf("%s: send %d answered %v", p.name, i, g)
				}
				break wait
			case <-p.c.closed:
				return fmt.Errorf("%s: connection closed", p.name)
			case <-deadline:
				return fmt.Errorf("%s: no ack of %q within %s", p.name, text, waitTime)
			}
		}
		p.mu.Lock()
		p.acked = append(p.acked, text)
		p.mu.Unlock()
	}
}

// retTraffic is customers and one agent writing continuously in open
// sessions.
type retTraffic struct {
	h        *harness
	pumps    []*retPump
	sessions map[string]string // customer id -> session id
	stop     chan struct{}
	errs     chan error
	wg       sync.WaitGroup
}

// startTraffic connects an agent and n customers, routes every customer to
// the agent and starts them all writing.
func startTraffic(h *harness, n int) *retTraffic {
	h.t.Helper()
	ag, _ := h.fastAgent("Pump", n)
	h.statusOf(ag, "available")
	tr := &retTraffic{h: h, sessions: map[string]string{}, stop: make(chan struct{}), errs: make(chan error, n+1)}
	agentPump := &retPump{c: ag, name: "agent"}
	for i := range n {
		id := fmt.Sprintf("live-%d", i)
		c, _ := h.customer(id)
		sid := h.startSession(c).str("id")
		require.Equal(h.t, sid, assignedID(ag))
		tr.sessions[id] = sid
		agentPump.sessions = append(agentPump.sessions, sid)
		tr.pumps = append(tr.pumps, &retPump{c: c, name: id})
	}
	tr.pumps = append(tr.pumps, agentPump)
	for _, p := range tr.pumps {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			if err := p.run(tr.stop); err != nil {
				tr.errs <- err
			}
		}()
	}
	h.t.Cleanup(tr.halt)
	return tr
}

// waitEach waits until every pump has had at least n more messages
// acknowledged than it had when called.
func (tr *retTraffic) waitEach(n int) {
	tr.h.t.Helper()
	base := make([]int, len(tr.pumps))
	for i, p := range tr.pumps {
		base[i] = p.count()
	}
	require.Eventually(tr.h.t, func() bool {
		select {
		case err := <-tr.errs:
			tr.errs <- err
			return true // reported by halt
		default:
		}
		for i, p := range tr.pumps {
			if p.count() < base[i]+n {
				return false
			}
		}
		return true
	}, 2*waitTime, time.Millisecond)
}

// halt stops the pumps and fails the test if any of them failed.
func (tr *retTraffic) halt() {
	select {
	case <-tr.stop:
		return
	default:
	}
	close(tr.stop)
	tr.wg.Wait()
	close(tr.errs)
	for err := range tr.errs {
		tr.h.t.Error(err)
	}
}

// verify checks that every acknowledged message is in its session's
// history exactly once and that seqs run 1..N without gaps.
func (tr *retTraffic) verify() {
	h := tr.h
	h.t.Helper()
	want := map[string]map[string]bool{} // session -> acked texts
	for _, sid := range tr.sessions {
		want[sid] = map[string]bool{}
	}
	for _, p := range tr.pumps {
		for i, text := range p.ackedTexts() {
			sid := tr.sessions[p.name]
			if len(p.sessions) > 0 {
				sid = p.sessions[i%len(p.sessions)]
			}
			want[sid][text] = true
		}
	}
	for id, sid := range tr.sessions {
		events := retAllEvents(h, id, sid)
		seen := map[string]int{}
		for i, e := range events {
			require.Equal(h.t, i+1, e.num("seq"), "session %s: seq gap", sid)
			if e.str("kind") == "message" {
				seen[e.str("text")]++
			}
		}
		require.NotEmpty(h.t, want[sid])
		for text := range want[sid] {
			assert.Equal(h.t, 1, seen[text], "session %s: %q", sid, text)
		}
	}
}

// retAllEvents pages backwards through a session's history over HTTP, as
// its customer, and returns every event oldest first.
func retAllEvents(h *harness, customerID, sid string) []frame {
	h.t.Helper()
	tok := h.customerToken(customerID)
	var all []frame
	path := fmt.Sprintf("/v1/customer/sessions/%s/events?limit=%d", sid, parley.MaxHistoryLimit)
	for {
		code, f := h.getJSON(path, tok)
		require.Equal(h.t, http.StatusOK, code, "%v", f)
		page := f.list("events")
		all = append(page, all...)
		if !f["more"].(bool) || len(page) == 0 {
			return all
		}
		path = fmt.Sprintf("/v1/customer/sessions/%s/events?limit=%d&before_seq=%d", sid, parley.MaxHistoryLimit, page[0].num("seq"))
	}
}

// retSeedEnded stores n ended sessions of distinct customers directly, each
// with events messages (and as many client_msg_id entries), ended at the
// current time of the clock.
func retSeedEnded(h *harness, n, events int, prefix string) (sessions, totalEvents int) {
	h.t.Helper()
	const perTx = 20
	for start := 0; start < n; start += perTx {
		require.NoError(h.t, h.db.Update(context.Background(), func(tx *storage.Tx) error {
			for i := start; i < min(n, start+perTx); i++ {
				now := parley.TimeOf(h.clock.now())
				cust := parley.Customer{ID: fmt.Sprintf("%s-%d", prefix, i), Name: "Old customer"}
				r := &parley.SessionRecord{
					ID: parley.NewID(now.Time), State: parley.StateQueued, Customer: cust,
					Agents: []parley.AgentRef{}, CreatedAt: now, QueuedAt: now,
				}
				if err := tx.PutSession(r); err != nil {
					return err
				}
				from := parley.Participant{Role: parley.RoleCustomer, ID: cust.ID}
				if _, err := tx.Append(r.ID, &parley.Event{Kind: parley.KindQueued, From: from}); err != nil {
					return err
				}
				for j := range events {
					ev := &parley.Event{Kind: parley.KindMessage, From: from, Text: fmt.Sprintf("old message %d", j), ClientMsgID: fmt.Sprintf("c%d", j)}
					if _, err := tx.Append(r.ID, ev); err != nil {
						return err
					}
				}
				end := &parley.Event{Kind: parley.KindEnded, From: from, Reason: parley.EndCustomer}
				if _, err := tx.Append(r.ID, end); err != nil {
					return err
				}
				r.State, r.EndedAt, r.EndReason = parley.StateEnded, end.At, parley.EndCustomer
				if err := tx.PutSession(r); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return n, n * (events + 2)
}

// retAdminSocket serves h's admin on a Unix socket and returns a client.
func retAdminSocket(h *harness) *httpapi.AdminClient {
	h.t.Helper()
	path := filepath.Join(h.dir, "admin.sock")
	srv, err := httpapi.ServeAdmin(path, h.admin, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(h.t, err)
	h.t.Cleanup(func() { _ = srv.Close() })
	return httpapi.DialAdmin(path)
}

// TestRetentionPurgeDuringLiveTraffic purges hundreds of old sessions (one
// of them larger than a purge transaction) through the admin socket while
// customers and an agent keep writing: no acknowledged message of an open
// session is lost or doubled, and the database checks clean.
func TestRetentionPurgeDuringLiveTraffic(t *testing.T) {
	h := retHarness(t, -1)
	n, events := retSeedEnded(h, 200, 10, "old")
	bigN, bigEvents := retSeedEnded(h, 1, 1500, "big") // 3000+ keys: several purge transactions
	h.clock.advance(91 * retDay)
	recent, recentEvents := retSeedEnded(h, 3, 2, "recent")
	sock := retAdminSocket(h)

	tr := startTraffic(h, 4)
	tr.waitEach(5)
	raw, err := sock.Do(context.Background(), "purge", admin.PurgeArgs{OlderThan: "90d"})
	require.NoError(t, err)
	tr.waitEach(5)
	tr.halt()

	var res admin.PurgeResult
	require.NoError(t, json.Unmarshal(raw, &res))
	assert.False(t, res.DryRun)
	assert.Equal(t, n+bigN, res.Sessions)
	assert.Equal(t, events+bigEvents, res.Events)
	assert.Positive(t, res.Bytes)
	assert.Len(t, res.IDs, n+bigN)

	tr.verify()
	ended, err := h.admin.Sessions(context.Background(), admin.SessionsArgs{State: parley.StateEnded})
	require.NoError(t, err)
	assert.Len(t, ended, recent, "only the recent ended sessions are left")
	rep := retCheck(t, h.db)
	assert.Equal(t, recent+len(tr.sessions), rep.Sessions)
	total := recentEvents
	for id, sid := range tr.sessions {
		total += len(retAllEvents(h, id, sid))
	}
	assert.Equal(t, total, rep.Events, "no event of a purged session is left")
}

// TestRetentionBackupWhileMessagesFlow backs the database up through the
// admin socket while messages flow: the copy opens, checks clean and holds
// every message acknowledged before the backup began.
func TestRetentionBackupWhileMessagesFlow(t *testing.T) {
	h := retHarness(t, -1)
	retSeedEnded(h, 50, 5, "old")
	sock := retAdminSocket(h)
	tr := startTraffic(h, 3)
	tr.waitEach(5)

	before := map[string][]string{}
	for _, p := range tr.pumps {
		before[p.name] = p.ackedTexts()
	}
	file := filepath.Join(t.TempDir(), "backup.db")
	raw, err := sock.Do(context.Background(), "backup", admin.BackupArgs{Path: file})
	require.NoError(t, err)
	tr.waitEach(5)
	tr.halt()
	var res admin.BackupResult
	require.NoError(t, json.Unmarshal(raw, &res))
	assert.Equal(t, file, res.Path)
	assert.Positive(t, res.Bytes)

	_, err = sock.Do(context.Background(), "backup", admin.BackupArgs{Path: file})
	assert.Equal(t, parley.EConflict, parley.ErrorCode(err), "a backup never overwrites")
	_, err = sock.Do(context.Background(), "backup", admin.BackupArgs{Path: "relative.db"})
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))

	db, err := storage.Open(file, storage.Options{Timeout: time.Second})
	require.NoError(t, err)
	defer db.Close()
	rep := retCheck(t, db)
	assert.Equal(t, 50+3, rep.Sessions)
	texts := map[string]int{}
	for _, sid := range tr.sessions {
		require.NoError(t, db.View(func(tx *storage.Tx) error {
			evs, _, err := tx.Events(sid, storage.EventQuery{})
			for _, e := range evs {
				texts[e.Text]++
			}
			return err
		}))
	}
	n := 0
	for name, acked := range before {
		for _, text := range acked {
			assert.Equal(t, 1, texts[text], "%s: %q acknowledged before the backup", name, text)
			n++
		}
	}
	assert.Positive(t, n)
	tr.verify()
}
