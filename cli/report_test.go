package cli_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// reportData is a data directory with a crafted history over the window
// [since, until), ten hours that end two hours before the test began.
type reportData struct {
	dir          string
	since, until time.Time
	alice, bob   string
}

const reportPassword = "report-test-password"

// reportSeed writes agents, their status history and sessions with
// historic times directly into a new database.
func reportSeed(t *testing.T) *reportData {
	t.Helper()
	until := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	d := &reportData{dir: t.TempDir(), since: until.Add(-10 * time.Hour), until: until}
	at := func(h, m, s int) parley.Time {
		return parley.TimeOf(d.since.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second))
	}
	db, err := storage.Open(filepath.Join(d.dir, "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	hash, err := auth.HashPassword(reportPassword)
	require.NoError(t, err)
	agent := func(name string) *parley.Agent {
		return &parley.Agent{ID: parley.NewID(d.since), Name: name, Email: strings.ToLower(name) + "@example.com",
			Capacity: 2, Status: parley.StatusOffline, PasswordHash: hash, CreatedAt: at(-48, 0, 0)}
	}
	alice, bob := agent("Alice"), agent("Bob")
	d.alice, d.bob = alice.ID, bob.ID
	ctx := context.Background()
	require.NoError(t, db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutAgent(alice); err != nil {
			return err
		}
		if err := tx.PutAgent(bob); err != nil {
			return err
		}
		for i, c := range []storage.StatusChange{
			// Alice has been available since before the window.
			{AgentID: alice.ID, At: at(-2, 0, 0).Time, Status: parley.StatusAvailable},
			{AgentID: alice.ID, At: at(1, 0, 0).Time, Status: parley.StatusBreak},
			{AgentID: alice.ID, At: at(1, 30, 0).Time, Status: parley.StatusAvailable},
			{AgentID: alice.ID, At: at(8, 0, 0).Time, Status: parley.StatusOffline, Reason: "disconnected"},
			{AgentID: bob.ID, At: at(2, 0, 0).Time, Status: parley.StatusAvailable},
			{AgentID: bob.ID, At: at(12, 0, 0).Time, Status: parley.StatusOffline},
		} {
			if err := tx.AppendStatus(c, uint64(i+1)); err != nil {
				return err
			}
		}
		return nil
	}))
	session := func(customer string, events ...parley.Event) {
		t.Helper()
		r := &parley.SessionRecord{ID: parley.NewID(events[0].At.Time), State: parley.StateQueued,
			Customer: parley.Customer{ID: customer}, Agents: []parley.AgentRef{},
			CreatedAt: events[0].At, QueuedAt: events[0].At}
		require.NoError(t, db.Update(ctx, func(tx *storage.Tx) error {
			if err := tx.PutSession(r); err != nil {
				return err
			}
			for _, ev := range events {
				if _, err := tx.Append(r.ID, &ev); err != nil {
					return err
				}
				switch ev.Kind {
				case parley.KindAgentJoined:
					r.State, r.AssignedAt = parley.StateActive, ev.At
					r.Agents = []parley.AgentRef{{ID: ev.From.ID, Name: ev.From.Name}}
					r.Participants = []string{ev.From.ID}
				case parley.KindEnded:
					r.State, r.EndedAt, r.EndReason = parley.StateEnded, ev.At, ev.Reason
				}
			}
			return tx.PutSession(r)
		}))
	}
	ev := func(kind string, at parley.Time, from parley.Participant, reason string) parley.Event {
		e := parley.Event{Kind: kind, At: at, From: from, Reason: reason}
		if kind == parley.KindMessage {
			e.Text = "hello"
		}
		return e
	}
	cust := func(id string) parley.Participant { return parley.Participant{Role: parley.RoleCustomer, ID: id} }
	a, b := alice.Participant(), bob.Participant()
	// Waited 60s; Alice answered in 20s and it was over in 14m.
	session("r1", ev(parley.KindQueued, at(0, 30, 0), cust("r1"), ""), ev(parley.KindAgentJoined, at(0, 31, 0), a, ""),
		ev(parley.KindMessage, at(0, 31, 20), a, ""), ev(parley.KindEnded, at(0, 45, 0), cust("r1"), parley.EndCustomer))
	// Waited 5m; Bob answered in 10s and it was over in 30m.
	session("r2", ev(parley.KindQueued, at(2, 0, 0), cust("r2"), ""), ev(parley.KindAgentJoined, at(2, 5, 0), b, ""),
		ev(parley.KindMessage, at(2, 5, 10), b, ""), ev(parley.KindEnded, at(2, 35, 0), b, parley.EndAgent))
	// Given up after 5 minutes.
	session("r3", ev(parley.KindQueued, at(2, 10, 0), cust("r3"), ""), ev(parley.KindEnded, at(2, 15, 0), cust("r3"), parley.EndAbandoned))
	// Still open: Bob joined after 2m and has not answered.
	session("r4", ev(parley.KindQueued, at(9, 0, 0), cust("r4"), ""), ev(parley.KindAgentJoined, at(9, 2, 0), b, ""))
	// Ended before the window.
	session("r5", ev(parley.KindQueued, at(-5, 0, 0), cust("r5"), ""), ev(parley.KindEnded, at(-4, 0, 0), cust("r5"), parley.EndCustomer))
	return d
}

// reportCheck runs both reports over the crafted window, as JSON and as
// tables, and checks every number.
func reportCheck(t *testing.T, d *reportData) {
	t.Helper()
	window := []string{"--data", d.dir, "--since", "10h", "--until", d.until.Format(time.RFC3339)}
	f := func(v float64) *float64 { return &v }

	var ag admin.AgentReport
	a3JSON(t, &ag, append([]string{"report", "agents"}, window...)...)
	assert.Equal(t, parley.TimeOf(d.since), ag.Since)
	assert.Equal(t, parley.TimeOf(d.until), ag.Until)
	assert.Equal(t, []admin.AgentReportRow{
		{AgentID: d.alice, Name: "Alice", Email: "alice@example.com", ChatsHandled: 1,
			FirstResponseP50: f(20), FirstResponseP90: f(20), HandleP50: f(840),
			AvailableS: 3600 + 6.5*3600, BreakS: 1800, OfflineS: 2 * 3600},
		{AgentID: d.bob, Name: "Bob", Email: "bob@example.com", ChatsHandled: 2,
			FirstResponseP50: f(10), FirstResponseP90: f(10), HandleP50: f(1800),
			AvailableS: 8 * 3600, OfflineS: 2 * 3600},
	}, ag.Agents)
	rows := a3Table(t, runOK(t, env{}, "", append([]string{"report", "agents"}, window...)...),
		"AGENT", "CHATS", "FIRST REPLY P50", "FIRST REPLY P90", "HANDLE P50", "AVAILABLE", "DRAINING", "BREAK", "OFFLINE")
	assert.Equal(t, []map[string]string{
		{"AGENT": "Alice", "CHATS": "1", "FIRST REPLY P50": "20s", "FIRST REPLY P90": "20s", "HANDLE P50": "14m",
			"AVAILABLE": "7h30m", "DRAINING": "0s", "BREAK": "30m", "OFFLINE": "2h"},
		{"AGENT": "Bob", "CHATS": "2", "FIRST REPLY P50": "10s", "FIRST REPLY P90": "10s", "HANDLE P50": "30m",
			"AVAILABLE": "8h", "DRAINING": "0s", "BREAK": "0s", "OFFLINE": "2h"},
	}, rows)

	var q admin.QueueReport
	a3JSON(t, &q, append([]string{"report", "queue"}, window...)...)
	assert.Equal(t, []admin.QueueReportRow{{
		Start: parley.TimeOf(d.since), End: parley.TimeOf(d.until), Queue: "default",
		Arrivals: 4, Served: 3, Abandoned: 1, WaitP50: f(120), WaitP90: f(300), WaitMaxS: f(300),
	}}, q.Rows)
	rows = a3Table(t, runOK(t, env{}, "", append([]string{"report", "queue", "--by", "hour"}, window...)...),
		"FROM", "QUEUE", "ARRIVALS", "SERVED", "ABANDONED", "WAITING", "WAIT P50", "WAIT P90", "WAIT MAX")
	hour := func(h int) string {
		return parley.TimeOf(d.since.Add(time.Duration(h) * time.Hour)).Format(parley.TimeLayout)
	}
	assert.Equal(t, []map[string]string{
		{"FROM": hour(0), "QUEUE": "default", "ARRIVALS": "1", "SERVED": "1", "ABANDONED": "0", "WAITING": "0",
			"WAIT P50": "1m", "WAIT P90": "1m", "WAIT MAX": "1m"},
		{"FROM": hour(2), "QUEUE": "default", "ARRIVALS": "2", "SERVED": "1", "ABANDONED": "1", "WAITING": "0",
			"WAIT P50": "5m", "WAIT P90": "5m", "WAIT MAX": "5m"},
		{"FROM": hour(9), "QUEUE": "default", "ARRIVALS": "1", "SERVED": "1", "ABANDONED": "0", "WAITING": "0",
			"WAIT P50": "2m", "WAIT P90": "2m", "WAIT MAX": "2m"},
	}, rows)

	runFail(t, env{}, "", "--by must be hour or day", append([]string{"report", "queue", "--by", "week"}, window...)...)
	runFail(t, env{}, "", "not an RFC 3339 time", "report", "agents", "--data", d.dir, "--until", "yesterday")
	runFail(t, env{}, "", "not a duration", "report", "agents", "--data", d.dir, "--since", "a while")
}

// TestReportOffline runs the reports on the file of a stopped server; the
// file is opened read-only, so reporting never writes to it.
func TestReportOffline(t *testing.T) {
	d := reportSeed(t)
	reportCheck(t, d)
	assert.NoFileExists(t, filepath.Join(d.dir, "admin.sock"))
}

// TestReportOnline runs the reports through a running server's admin
// socket, then has an agent handle a live chat and finds it in the
// reports of the last hour, online and after the server stopped.
func TestReportOnline(t *testing.T) {
	d := reportSeed(t)
	s := startServe(t, env{}, "--data", d.dir)
	// The database is locked by the server: these go through the socket.
	reportCheck(t, d)

	status, tok := login(t, s.addr, "alice@example.com", reportPassword)
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, tok)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "av"})
	ag.expectRe("av")
	live := &a3Live{s: s, agent: ag}
	cust, _ := live.a3Customer(t, "live-1")
	cust.mustSend(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))
	ag.mustSend(frame{"type": "send", "session_id": sid, "text": "How can I help?", "client_msg_id": "m1", "req": "m1"})
	ag.expectRe("m1")
	cust.mustSend(frame{"type": "end", "req": "e"})
	a3Ended(ag, sid)

	lastHour := func() {
		t.Helper()
		var rep admin.AgentReport
		a3JSON(t, &rep, "report", "agents", "--data", d.dir, "--since", "1h")
		require.Len(t, rep.Agents, 2)
		alice := rep.Agents[0]
		assert.Equal(t, "Alice", alice.Name)
		assert.Equal(t, 1, alice.ChatsHandled)
		require.NotNil(t, alice.FirstResponseP50)
		require.NotNil(t, alice.HandleP50)
		assert.Positive(t, alice.AvailableS, "the status change was recorded")
		assert.Equal(t, 0, rep.Agents[1].ChatsHandled)
		var q admin.QueueReport
		a3JSON(t, &q, "report", "queue", "--data", d.dir, "--since", "1h")
		require.Len(t, q.Rows, 1)
		assert.Equal(t, 1, q.Rows[0].Arrivals)
		assert.Equal(t, 1, q.Rows[0].Served)
		require.NotNil(t, q.Rows[0].WaitMaxS)
	}
	lastHour()
	require.Equal(t, 0, s.stop(t))
	lastHour()
	// The crafted window has not changed: the restart and the shutdown
	// were recorded after it.
	reportCheck(t, d)
}
