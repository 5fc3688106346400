package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/cli"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

const a3Day = 24 * time.Hour

// a3Data is the seeded content of a data directory: session ids by name.
type a3Data struct {
	dir string
	// Ended 100 and 95 days ago (purged by --older-than 90d).
	old1, old2 string
	// Ended 99 days ago, customer under a legal hold in the scenario.
	held string
	// Ended 30 days ago.
	young string
	// Open and queued since 98 days ago, since 2 hours ago.
	wait, end2 string
	// One ended 10 days ago and one open since an hour ago, of the
	// customer the scenario erases.
	eraseOld, eraseOpen string
}

// a3Texts are the message texts seeded; none may ever appear in the audit
// log. They all contain "secret".
var a3Texts = []string{"old secret 1", "old secret 2", "old secret 3", "held secret", "young secret", "waiting secret", "erase secret 1", "erase secret 2"}

// a3Seed creates a database in a new data directory with sessions of
// various ages written directly with their historic times.
func a3Seed(t *testing.T) *a3Data {
	t.Helper()
	d := &a3Data{dir: t.TempDir()}
	db, err := storage.Open(filepath.Join(d.dir, "parley.db"), storage.Options{})
	require.NoError(t, err)
	defer db.Close()
	now := time.Now()
	add := func(customer string, created time.Duration, ended bool, texts ...string) string {
		t.Helper()
		at := parley.TimeOf(now.Add(-created))
		c := parley.Customer{ID: customer, Name: "Customer " + customer}
		r := &parley.SessionRecord{
			ID: parley.NewID(at.Time), State: parley.StateQueued, Customer: c,
			Agents: []parley.AgentRef{}, CreatedAt: at, QueuedAt: at,
		}
		from := parley.Participant{Role: parley.RoleCustomer, ID: customer, Name: c.Name}
		require.NoError(t, db.Update(context.Background(), func(tx *storage.Tx) error {
			if err := tx.PutSession(r); err != nil {
				return err
			}
			events := []*parley.Event{{Kind: parley.KindQueued, From: from, At: at}}
			for i, text := range texts {
				events = append(events, &parley.Event{Kind: parley.KindMessage, From: from, Text: text,
					ClientMsgID: "m" + string(rune('a'+i)), At: parley.TimeOf(at.Add(time.Duration(i+1) * time.Second))})
			}
			if ended {
				end := parley.TimeOf(at.Add(time.Minute))
				events = append(events, &parley.Event{Kind: parley.KindEnded, From: from, Reason: parley.EndCustomer, At: end})
				r.State, r.EndedAt, r.EndReason = parley.StateEnded, end, parley.EndCustomer
			}
			for _, ev := range events {
				if _, err := tx.Append(r.ID, ev); err != nil {
					return err
				}
			}
			return tx.PutSession(r)
		}))
		return r.ID
	}
	d.old1 = add("cust-old", 100*a3Day, true, "old secret 1", "old secret 2")
	d.old2 = add("cust-old", 95*a3Day, true, "old secret 3")
	d.held = add("cust-held", 99*a3Day, true, "held secret")
	d.young = add("cust-young", 30*a3Day, true, "young secret")
	d.wait = add("cust-wait", 98*a3Day, false, "waiting secret")
	d.end2 = add("cust-end2", 2*time.Hour, false)
	d.eraseOld = add("cust-erase", 10*a3Day, true, "erase secret 1")
	d.eraseOpen = add("cust-erase", time.Hour, false, "erase secret 2")
	return d
}

// a3Table parses a tabwriter table into rows keyed by column name. Column
// names may contain single spaces ("WAITING SINCE"); columns are separated
// by at least two spaces in the header.
func a3Table(t *testing.T, out string, header ...string) []map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.NotEmpty(t, lines)
	h := lines[0]
	var names []string
	var starts []int
	for _, loc := range regexp.MustCompile(`\S+( \S+)*`).FindAllStringIndex(h, -1) {
		names = append(names, h[loc[0]:loc[1]])
		starts = append(starts, loc[0])
	}
	require.Equal(t, header, names, "header of\n%s", out)
	var rows []map[string]string
	for _, line := range lines[1:] {
		row := map[string]string{}
		for i, name := range names {
			if len(line) <= starts[i] {
				row[name] = "" // an empty last cell
				continue
			}
			end := min(len(line), len(h)+len(line))
			if i+1 < len(starts) {
				end = min(len(line), starts[i+1])
			}
			require.NotEqual(t, byte(' '), line[starts[i]], "column %s not aligned in %q", name, line)
			if i > 0 {
				require.Equal(t, byte(' '), line[starts[i]-1], "column %s not aligned in %q", name, line)
			}
			row[name] = strings.TrimSpace(line[starts[i]:end])
		}
		rows = append(rows, row)
	}
	return rows
}

// a3Col returns one column of table rows.
func a3Col(rows []map[string]string, name string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[name]
	}
	return out
}

// a3JSON runs a command with --json and decodes its output into v.
func a3JSON(t *testing.T, v any, args ...string) string {
	t.Helper()
	out := runOK(t, env{}, "", append(args, "--json")...)
	require.NoError(t, json.Unmarshal([]byte(out), v), "%s printed %q", strings.Join(args, " "), out)
	return out
}

// a3Live is what the online scenario connects to the running server.
type a3Live struct {
	s     *server
	agent *wsClient
}

// a3Customer connects a customer of the running server with a token minted
// by parley token.
func (l *a3Live) a3Customer(t *testing.T, id string) (*wsClient, frame) {
	t.Helper()
	tok := strings.TrimSpace(runOK(t, env{}, "", "token", "--sub", id, "--data", l.s.data))
	return customerWS(t, l.s.addr, tok)
}

// a3Ended waits for the ended event of a session on c and returns it.
func a3Ended(c *wsClient, sid string) frame {
	c.t.Helper()
	return c.waitFor("ended "+sid, func(f frame) bool {
		return f.str("type") == "event" && f.str("session_id") == sid && f.obj("event").str("kind") == parley.KindEnded
	}).obj("event")
}

// a3Scenario runs every admin command on d, in table and JSON form, and
// checks their output. live is nil when no server runs.
func a3Scenario(t *testing.T, d *a3Data, live *a3Live) {
	data := []string{"--data", d.dir}
	args := func(a ...string) []string { return append(a, data...) }
	table := func(header []string, a ...string) []map[string]string {
		t.Helper()
		return a3Table(t, runOK(t, env{}, "", args(a...)...), header...)
	}
	fail := func(want string, a ...string) {
		t.Helper()
		runFail(t, env{}, "", want, args(a...)...)
	}
	sessionsHeader := []string{"SESSION", "STATE", "CUSTOMER", "AGENTS", "CREATED", "ENDED", "EVENTS"}
	holdHeader := []string{"CUSTOMER", "SINCE", "REASON"}
	statsHeader := []string{"WHAT", "VALUE"}

	// stats
	server := "stopped"
	if live != nil {
		server = "running"
	}
	st := map[string]string{}
	for _, r := range table(statsHeader, "stats") {
		st[r["WHAT"]] = r["VALUE"]
	}
	assert.Equal(t, server, st["server"])
	assert.Equal(t, "3", st["open sessions"])
	assert.Equal(t, "3", st["queued"])
	assert.Contains(t, st["database size"], "KiB")
	var stats admin.StatsResult
	a3JSON(t, &stats, args("stats")...)
	assert.Equal(t, live != nil, stats.Online)
	assert.Equal(t, 3, stats.OpenSessions)
	assert.Equal(t, 3, stats.Queued)
	assert.GreaterOrEqual(t, stats.OldestWaitS, int(98*a3Day/time.Second)-60)
	assert.Positive(t, stats.DatabaseBytes)

	// queue ls: oldest first.
	q := table([]string{"QUEUE", "POSITION", "SESSION", "CUSTOMER", "WAITING SINCE", "WAIT"}, "queue", "ls", "--sessions")
	assert.Equal(t, []string{"1", "2", "3"}, a3Col(q, "POSITION"))
	assert.Equal(t, []string{d.wait, d.end2, d.eraseOpen}, a3Col(q, "SESSION"))
	assert.Equal(t, []string{"cust-wait", "cust-end2", "cust-erase"}, a3Col(q, "CUSTOMER"))
	var queue []admin.QueueRow
	a3JSON(t, &queue, args("queue", "ls", "--sessions")...)
	require.Len(t, queue, 3)
	assert.Equal(t, d.wait, queue[0].SessionID)
	assert.Equal(t, 3, queue[2].Position)
	assert.InDelta(t, 3600, queue[2].WaitS, 60)
	// queue ls: per queue.
	qs := table([]string{"QUEUE", "WAITING", "OLDEST WAIT", "AGENTS SERVING", "AVAILABLE", "GREETING"}, "queue", "ls")
	assert.Equal(t, []string{"default"}, a3Col(qs, "QUEUE"))
	assert.Equal(t, []string{"3"}, a3Col(qs, "WAITING"))

	// sessions ls with each filter, newest first.
	all := table(sessionsHeader, "sessions", "ls")
	assert.Equal(t, []string{d.eraseOpen, d.end2, d.eraseOld, d.young, d.old2, d.wait, d.held, d.old1}, a3Col(all, "SESSION"))
	var list []parley.Session
	a3JSON(t, &list, args("sessions", "ls")...)
	assert.Len(t, list, 8)
	rows := table(sessionsHeader, "sessions", "ls", "--customer", "cust-old")
	assert.Equal(t, []string{d.old2, d.old1}, a3Col(rows, "SESSION"))
	assert.Equal(t, []string{"ended", "ended"}, a3Col(rows, "STATE"))
	assert.Equal(t, []string{"3", "4"}, a3Col(rows, "EVENTS"))
	a3JSON(t, &list, args("sessions", "ls", "--state", "queued")...)
	assert.Equal(t, []string{d.eraseOpen, d.end2, d.wait}, a3IDs(list))
	a3JSON(t, &list, args("sessions", "ls", "--state", "ended")...)
	assert.Len(t, list, 5)
	a3JSON(t, &list, args("sessions", "ls", "--since", "24h")...)
	assert.Equal(t, []string{d.eraseOpen, d.end2}, a3IDs(list))
	a3JSON(t, &list, args("sessions", "ls", "--since", "31d", "--state", "ended")...)
	assert.Equal(t, []string{d.eraseOld, d.young}, a3IDs(list))
	a3JSON(t, &list, args("sessions", "ls", "--limit", "1")...)
	assert.Equal(t, []string{d.eraseOpen}, a3IDs(list))
	fail("state must be queued, active or ended", "sessions", "ls", "--state", "closed")
	fail("not a duration", "sessions", "ls", "--since", "yesterday")

	// sessions show: details, transcript and JSON.
	out := runOK(t, env{}, "", args("sessions", "show", d.old1)...)
	assert.Contains(t, out, "Session:      "+d.old1)
	assert.Contains(t, out, "State:        ended")
	assert.Contains(t, out, "Customer:     cust-old Customer cust-old")
	assert.Contains(t, out, "(customer)")
	ev := a3Table(t, out[strings.Index(out, "SEQ"):], "SEQ", "AT", "KIND", "FROM", "TEXT")
	assert.Equal(t, []string{"1", "2", "3", "4"}, a3Col(ev, "SEQ"))
	assert.Equal(t, []string{"queued", "message", "message", "ended"}, a3Col(ev, "KIND"))
	assert.Equal(t, "old secret 2", ev[2]["TEXT"])
	assert.Equal(t, "customer:Customer cust-old", ev[2]["FROM"])
	out = runOK(t, env{}, "", args("sessions", "show", d.old1, "--transcript")...)
	assert.True(t, strings.HasPrefix(out, "Session "+d.old1+" (ended)\n"), out)
	assert.Contains(t, out, "old secret 1")
	var detail admin.SessionDetail
	a3JSON(t, &detail, args("sessions", "show", d.old1)...)
	assert.Equal(t, d.old1, detail.Session.ID)
	assert.Equal(t, "cust-old", detail.Customer.ID)
	require.Len(t, detail.Events, 4)
	assert.Equal(t, "old secret 1", detail.Events[1].Text)
	fail("not found", "sessions", "show", parley.NewID(time.Now()))
	fail("not a valid id", "sessions", "show", "nope")
	fail("accepts 1 arg", "sessions", "show")

	// An agent takes the two oldest queued sessions; the customer of the
	// first one is connected.
	var waiter *wsClient
	if live != nil {
		live.agent.mustSend(frame{"type": "status", "status": "available", "req": "av"})
		live.agent.expectRe("av")
		got := []string{live.agent.expect("assigned").obj("session").str("id"), live.agent.expect("assigned").obj("session").str("id")}
		assert.ElementsMatch(t, []string{d.wait, d.end2}, got)
		// A break keeps the agent from taking the customer erased below
		// once these two end.
		live.agent.mustSend(frame{"type": "status", "status": "break", "req": "br"})
		assert.Equal(t, parley.StatusDraining, live.agent.expectRe("br").str("status"))
		var w frame
		waiter, w = live.a3Customer(t, "cust-wait")
		assert.Equal(t, d.wait, w.obj("open_session").str("id"))
		assert.Equal(t, "active", w.obj("open_session").str("state"))
		q = table([]string{"QUEUE", "POSITION", "SESSION", "CUSTOMER", "WAITING SINCE", "WAIT"}, "queue", "ls", "--sessions")
		assert.Equal(t, []string{d.eraseOpen}, a3Col(q, "SESSION"))
		rows = table(sessionsHeader, "sessions", "ls", "--state", "active")
		assert.ElementsMatch(t, []string{d.wait, d.end2}, a3Col(rows, "SESSION"))
		assert.Equal(t, []string{"admin", "admin"}, a3Col(rows, "AGENTS"))
	}

	// sessions end: reason admin, and everyone in the session is told.
	out = runOK(t, env{}, "", args("sessions", "end", d.wait)...)
	assert.Contains(t, out, "Session:      "+d.wait)
	assert.Contains(t, out, "State:        ended")
	assert.Regexp(t, `Ended: +\S+ \(admin\)`, out)
	a3JSON(t, &detail, args("sessions", "end", d.end2)...)
	assert.Equal(t, parley.StateEnded, detail.Session.State)
	assert.Equal(t, parley.EndAdmin, detail.Session.EndReason)
	last := detail.Events[len(detail.Events)-1]
	assert.Equal(t, parley.KindEnded, last.Kind)
	assert.Equal(t, parley.EndAdmin, last.Reason)
	assert.Equal(t, parley.RoleSystem, last.From.Role)
	if live != nil {
		for _, sid := range []string{d.wait, d.end2} {
			assert.Equal(t, parley.EndAdmin, a3Ended(live.agent, sid).str("reason"))
		}
		assert.Equal(t, parley.EndAdmin, a3Ended(waiter, d.wait).str("reason"))
	}
	fail("ended", "sessions", "end", d.wait)
	fail("has already ended", "sessions", "end", d.old1, "--json")
	fail("not found", "sessions", "end", parley.NewID(time.Now()))

	// hold add and ls.
	rows = table(holdHeader, "hold", "add", "--customer", "cust-held", "--reason", "case 42")
	require.Len(t, rows, 1)
	assert.Equal(t, "cust-held", rows[0]["CUSTOMER"])
	assert.Equal(t, "case 42", rows[0]["REASON"])
	var holds []parley.Hold
	a3JSON(t, &holds, args("hold", "add", "--customer", "cust-young")...)
	require.Len(t, holds, 1)
	assert.Equal(t, "cust-young", holds[0].CustomerID)
	assert.WithinDuration(t, time.Now(), holds[0].CreatedAt.Time, time.Minute)
	rows = table(holdHeader, "hold", "ls")
	assert.Equal(t, []string{"cust-held", "cust-young"}, a3Col(rows, "CUSTOMER"))
	assert.Equal(t, []string{"case 42", "-"}, a3Col(rows, "REASON"))
	a3JSON(t, &holds, args("hold", "ls")...)
	assert.Len(t, holds, 2)
	fail("required flag", "hold", "add")

	// purge: a dry run, then the real one, which keeps the held session,
	// the newer ones and the session that was open for 100 days but has
	// just ended.
	out = runOK(t, env{}, "", args("purge", "--older-than", "90d", "--dry-run")...)
	assert.Regexp(t, `^Would remove 2 sessions, 7 events, [0-9.]+ (B|KiB)\. Kept 1 session under legal hold\.\n$`, out)
	var pr admin.PurgeResult
	a3JSON(t, &pr, args("purge", "--older-than", "90d", "--dry-run")...)
	assert.True(t, pr.DryRun)
	assert.Equal(t, 2, pr.Sessions)
	assert.Equal(t, 7, pr.Events)
	assert.Equal(t, 1, pr.Held)
	assert.Positive(t, pr.Bytes)
	assert.Equal(t, []string{d.old1, d.old2}, pr.IDs)
	runOK(t, env{}, "", args("sessions", "show", d.old1)...) // still there
	out = runOK(t, env{}, "", args("purge", "--older-than", "90d")...)
	assert.Regexp(t, `^Purged 2 sessions, 7 events, [0-9.]+ (B|KiB)\. Kept 1 session under legal hold\.\n$`, out)
	fail("not found", "sessions", "show", d.old1)
	fail("not found", "sessions", "show", d.old2)
	for _, id := range []string{d.held, d.young, d.wait, d.eraseOld} {
		runOK(t, env{}, "", args("sessions", "show", id)...)
	}
	a3JSON(t, &pr, args("purge", "--older-than", "90d")...)
	assert.False(t, pr.DryRun)
	assert.Equal(t, 0, pr.Sessions)
	assert.Equal(t, 1, pr.Held)
	fail("pass --older-than", "purge", "--retention", "0")
	fail("not a duration", "purge", "--older-than", "ninety")

	// erase: refused under a hold; otherwise the open session is ended
	// (its connected customer told) and everything goes.
	fail("legal hold", "erase", "--customer", "cust-held")
	fail("legal hold", "erase", "--customer", "cust-held", "--json")
	runOK(t, env{}, "", args("sessions", "show", d.held)...)
	out = runOK(t, env{}, "", args("erase", "--customer", "cust-erase", "--dry-run")...)
	assert.Regexp(t, `^Would remove 2 sessions, 5 events, [0-9.]+ (B|KiB)\.\n$`, out)
	var eraser *wsClient
	if live != nil {
		var w frame
		eraser, w = live.a3Customer(t, "cust-erase")
		assert.Equal(t, d.eraseOpen, w.obj("open_session").str("id"))
	}
	a3JSON(t, &pr, args("erase", "--customer", "cust-erase")...)
	assert.Equal(t, 2, pr.Sessions)
	assert.Equal(t, 6, pr.Events, "5 plus the ended event of the open session")
	assert.ElementsMatch(t, []string{d.eraseOld, d.eraseOpen}, pr.IDs)
	if live != nil {
		assert.Equal(t, parley.EndAdmin, a3Ended(eraser, d.eraseOpen).str("reason"))
	}
	a3JSON(t, &list, args("sessions", "ls", "--customer", "cust-erase")...)
	assert.Empty(t, list)
	fail("not found", "sessions", "show", d.eraseOpen)
	out = runOK(t, env{}, "", args("erase", "--customer", "nobody")...)
	assert.Equal(t, "Erased 0 sessions, 0 events, 0 B.\n", out)
	fail("required flag", "erase")

	// hold rm, then the held session can be purged.
	out = runOK(t, env{}, "", args("hold", "rm", "--customer", "cust-held")...)
	assert.Equal(t, "Released the legal hold on cust-held.\n", out)
	var released map[string]string
	a3JSON(t, &released, args("hold", "rm", "--customer", "cust-young")...)
	assert.Equal(t, map[string]string{"released": "cust-young"}, released)
	fail("has no legal hold", "hold", "rm", "--customer", "cust-held")
	assert.Empty(t, table(holdHeader, "hold", "ls"))
	a3JSON(t, &holds, args("hold", "ls")...)
	assert.Empty(t, holds)
	out = runOK(t, env{}, "", args("purge", "--older-than", "90d")...)
	assert.Regexp(t, `^Purged 1 session, 3 events, `, out)
	fail("not found", "sessions", "show", d.held)

	// audit ls: every data-management action with its counts, never a
	// message text.
	audit := table([]string{"AT", "ACTION", "ACTOR", "SUBJECT", "SESSIONS", "EVENTS", "BYTES", "DETAIL"}, "audit", "ls")
	assert.Equal(t, []string{
		"purge", "hold.rm", "hold.rm", "erase", "erase", "session.end", "purge", "purge", "hold.add", "hold.add", "session.end", "session.end",
	}, a3Col(audit, "ACTION"))
	assert.Equal(t, []string{
		"-", "cust-young", "cust-held", "nobody", "cust-erase", d.eraseOpen, "-", "-", "cust-young", "cust-held", d.end2, d.wait,
	}, a3Col(audit, "SUBJECT"))
	assert.Equal(t, []string{"1", "0", "0", "0", "2", "0", "0", "2", "0", "0", "0", "0"}, a3Col(audit, "SESSIONS"))
	assert.Equal(t, []string{"3", "0", "0", "0", "6", "0", "0", "7", "0", "0", "0", "0"}, a3Col(audit, "EVENTS"))
	assert.Equal(t, "case 42", audit[9]["DETAIL"])
	var entries []parley.AuditEntry
	js := a3JSON(t, &entries, args("audit", "ls")...)
	require.Len(t, entries, len(audit))
	for _, e := range entries {
		assert.Equal(t, "cli", e.Actor)
		assert.NotEmpty(t, e.ID)
	}
	assert.Equal(t, 7, entries[7].Events)
	assert.Positive(t, entries[7].Bytes)
	assert.Contains(t, entries[7].Detail, "ended before ")
	for _, text := range a3Texts {
		assert.NotContains(t, js, text, "message text in the audit log")
	}
	assert.NotContains(t, js, "secret")
	assert.NotContains(t, runOK(t, env{}, "", args("audit", "ls")...), "secret")
	a3JSON(t, &entries, args("audit", "ls", "--limit", "2")...)
	assert.Len(t, entries, 2)
	a3JSON(t, &entries, args("audit", "ls", "--since", "1h")...)
	assert.Len(t, entries, len(audit))

	// backup, and check of the copy and of the live file.
	dir := t.TempDir()
	b1, b2 := filepath.Join(dir, "one.db"), filepath.Join(dir, "two.db")
	out = runOK(t, env{}, "", args("backup", b1)...)
	assert.Regexp(t, `^Backed up \S+parley\.db to `+regexp.QuoteMeta(b1)+` \([0-9.]+ KiB\)\.\n$`, out)
	var br admin.BackupResult
	a3JSON(t, &br, args("backup", b2)...)
	assert.Equal(t, b2, br.Path)
	assert.Positive(t, br.Bytes)
	fail("already exists", "backup", b1)
	fail("accepts 1 arg", "backup")
	for _, f := range []string{b1, b2} {
		fi := requireMode(t, f, 0o600)
		assert.Positive(t, fi.Size())
	}
	// Left: young, wait, end2 (sessions); agents: admin (first agent) when
	// a server was started, none otherwise.
	checkRe := regexp.MustCompile(`^Checked 3 sessions, \d+ events, (0 agents|1 agent), 0 holds, 12 audit entries\.\nOK\n$`)
	assert.Regexp(t, checkRe, runOK(t, env{}, "", args("check", b1)...))
	assert.Regexp(t, checkRe, runOK(t, env{}, "", args("check")...))
	var rep storage.CheckReport
	a3JSON(t, &rep, args("check", b2)...)
	assert.Equal(t, 3, rep.Sessions)
	assert.Equal(t, 12, rep.AuditEntries)
	assert.Empty(t, rep.Problems)
	a3JSON(t, &rep, args("check")...)
	assert.Equal(t, 3, rep.Sessions)
	assert.Empty(t, rep.Problems)
	fail("no such file", "check", filepath.Join(dir, "missing.db"))

	// stats after all that.
	a3JSON(t, &stats, args("stats")...)
	assert.Equal(t, 0, stats.OpenSessions)
	assert.Equal(t, 0, stats.Queued)

	// token.
	tok := strings.TrimSpace(runOK(t, env{}, "", args("token", "--sub", "cust-x")...))
	assert.Equal(t, 2, strings.Count(tok, "."), "a JWT")
	var tj struct {
		Token string `json:"token"`
	}
	a3JSON(t, &tj, args("token", "--sub", "cust-x")...)
	assert.Equal(t, 2, strings.Count(tj.Token, "."))
}

func a3IDs(list []parley.Session) []string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return ids
}

// a3Compact runs compact offline in both forms.
func a3Compact(t *testing.T, data string) {
	t.Helper()
	out := runOK(t, env{}, "", "compact", "--data", data)
	assert.Regexp(t, `^Compacted \S+parley\.db: [0-9.]+ (KiB|MiB) before, [0-9.]+ (KiB|MiB) after\.\n$`, out)
	var sizes map[string]int64
	a3JSON(t, &sizes, "compact", "--data", data)
	assert.Positive(t, sizes["before_bytes"])
	assert.Positive(t, sizes["after_bytes"])
	assert.LessOrEqual(t, sizes["after_bytes"], sizes["before_bytes"])
	assert.Regexp(t, `^Checked 3 sessions`, runOK(t, env{}, "", "check", "--data", data))
}

// TestAdmin3CommandsOffline runs every admin command on the file of a
// stopped server.
func TestAdmin3CommandsOffline(t *testing.T) {
	d := a3Seed(t)
	a3Scenario(t, d, nil)
	assert.NoFileExists(t, filepath.Join(d.dir, "admin.sock"))
	a3Compact(t, d.dir)

	// A server started afterwards sees the result.
	s := startServe(t, env{}, "--data", d.dir, "--listen", "127.0.0.1:0")
	var list []parley.Session
	a3JSON(t, &list, "sessions", "ls", "--data", d.dir)
	assert.Equal(t, []string{d.end2, d.young, d.wait}, a3IDs(list))
	require.Equal(t, 0, s.stop(t))
}

// TestAdmin3CommandsOnline runs every admin command through the admin
// socket of a running server, with an agent and customers connected, then
// the offline-only compact after stopping it.
func TestAdmin3CommandsOnline(t *testing.T) {
	d := a3Seed(t)
	s := startServe(t, env{}, "--data", d.dir, "--listen", "127.0.0.1:0")
	m := s.out.waitMatch(t, firstAgentRe, s.done)
	status, tok := changePassword(t, s.addr, m[1], m[2], "a3-chosen-password")
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, tok)

	// The database is locked by the server, so every success below went
	// through the socket.
	a3Scenario(t, d, &a3Live{s: s, agent: ag})

	// compact refuses while the server runs.
	runFail(t, env{}, "", "the server is running; stop it before compacting", "compact", "--data", d.dir)
	runFail(t, env{}, "", "the server is running", "compact", "--data", d.dir, "--json")
	runFail(t, env{}, "", "locked", "check", filepath.Join(d.dir, "parley.db"), "--data", d.dir)

	require.Equal(t, 0, s.stop(t))
	assert.NoFileExists(t, filepath.Join(d.dir, "admin.sock"))
	a3Compact(t, d.dir)
	var st admin.StatsResult
	a3JSON(t, &st, "stats", "--data", d.dir)
	assert.False(t, st.Online)
	assert.Equal(t, 1, st.AgentsByStatus[parley.StatusOffline])
}

// TestAdmin3BackupWhileMessagesFlow backs up a running server while a
// customer and an agent exchange messages; the copy passes parley check.
func TestAdmin3BackupWhileMessagesFlow(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, env{}, "--data", data, "--listen", "127.0.0.1:0")
	m := s.out.waitMatch(t, firstAgentRe, s.done)
	status, atok := changePassword(t, s.addr, m[1], m[2], "a3-chosen-password")
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, atok)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "av"})
	ag.expectRe("av")
	live := &a3Live{s: s, agent: ag}
	cust, _ := live.a3Customer(t, "flow-1")
	cust.mustSend(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))

	// Both sides write, each waiting for its acks, until stopped. The
	// goroutines report failures instead of failing the test.
	stop := make(chan struct{})
	errs := make(chan string, 2)
	var acked [2]int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range []*wsClient{cust, ag} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req := "w" + string(rune('a'+i)) + "-" + time.Now().Format("150405.000000000")
				if err := c.send(frame{"type": "send", "session_id": sid, "text": req, "client_msg_id": req, "req": req}); err != nil {
					errs <- err.Error()
					return
				}
				deadline := time.After(waitTime)
			wait:
				for {
					select {
					case f := <-c.frames:
						if f.str("re") == req {
							if f.str("type") != "sent" {
								errs <- "send answered " + f.str("type")
								return
							}
							break wait
						}
					case <-deadline:
						errs <- "no ack within " + waitTime.String()
						return
					}
				}
				mu.Lock()
				acked[i]++
				mu.Unlock()
			}
		}()
	}
	waitAcks := func(n int) {
		t.Helper()
		mu.Lock()
		base := acked
		mu.Unlock()
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(errs) > 0 || (acked[0] >= base[0]+n && acked[1] >= base[1]+n)
		}, waitTime, time.Millisecond)
	}
	waitAcks(5)
	file := filepath.Join(t.TempDir(), "flow.db")
	out := runOK(t, env{}, "", "backup", file, "--data", data)
	assert.Contains(t, out, "Backed up")
	waitAcks(5)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	out = runOK(t, env{}, "", "check", file, "--data", data)
	assert.Regexp(t, `^Checked 1 session, \d+ events, 1 agent, 0 holds, 0 audit entries\.\nOK\n$`, out)
	var rep storage.CheckReport
	a3JSON(t, &rep, "check", file)
	assert.Empty(t, rep.Problems)
	assert.Greater(t, rep.Events, 10)
	// The backup opens as a data directory of its own.
	copyDir := t.TempDir()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(copyDir, "parley.db"), raw, 0o600))
	var list []parley.Session
	a3JSON(t, &list, "sessions", "ls", "--data", copyDir)
	require.Len(t, list, 1)
	assert.Equal(t, sid, list[0].ID)
}

// TestAdmin3ServeRetention starts parley serve with --retention 90d and a
// short --purge-interval: the janitor purges the sessions that ended 95 to
// 100 days ago and keeps those that ended 10 and 30 days ago and the open
// ones. (The 89/91-day boundary is tested in httpapi with a moved clock.)
func TestAdmin3ServeRetention(t *testing.T) {
	d := a3Seed(t)
	s := startServe(t, env{}, "--data", d.dir, "--listen", "127.0.0.1:0", "--retention", "90d", "--purge-interval", "10ms")
	var entries []parley.AuditEntry
	require.Eventually(t, func() bool {
		var out bytes.Buffer
		code := cli.Main(context.Background(), []string{"audit", "ls", "--json", "--data", d.dir},
			cli.Streams{In: strings.NewReader(""), Out: &out, Err: io.Discard}, env{}.lookup)
		return code == 0 && json.Unmarshal(out.Bytes(), &entries) == nil && len(entries) > 0
	}, waitTime, 10*time.Millisecond)
	require.Len(t, entries, 1)
	assert.Equal(t, "janitor", entries[0].Actor)
	assert.Equal(t, parley.AuditPurge, entries[0].Action)
	assert.Equal(t, 3, entries[0].Sessions, "old1, old2 and held (no hold placed)")
	var list []parley.Session
	a3JSON(t, &list, "sessions", "ls", "--state", "ended", "--data", d.dir)
	assert.Equal(t, []string{d.eraseOld, d.young}, a3IDs(list))
	a3JSON(t, &list, "sessions", "ls", "--state", "queued", "--data", d.dir)
	assert.Equal(t, []string{d.eraseOpen, d.end2, d.wait}, a3IDs(list), "open sessions are never purged")
	require.Equal(t, 0, s.stop(t))

	// A bad value is refused, from the flag or the variable, and nothing
	// is created.
	data := filepath.Join(t.TempDir(), "d")
	runFail(t, env{}, "", "not a duration", "serve", "--data", data, "--listen", "127.0.0.1:0", "--retention", "ninety")
	runFail(t, env{"PARLEY_RETENTION": "3months"}, "", "not a duration", "serve", "--data", data, "--listen", "127.0.0.1:0")
	assert.NoDirExists(t, data)
}

// TestAdmin3BadDurationNamesFlag checks that an invalid duration names the
// flag or variable it came from, as other flag errors do.
func TestAdmin3BadDurationNamesFlag(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	runFail(t, env{}, "", "--retention", "serve", "--data", data, "--retention", "ninety")
	runFail(t, env{"PARLEY_RETENTION": "3months"}, "", "PARLEY_RETENTION", "serve", "--data", data)
	runFail(t, env{}, "", "--older-than", "purge", "--data", data, "--older-than", "ninety")
}
