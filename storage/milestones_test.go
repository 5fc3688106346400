package storage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// storedSession writes a session created at created with the given events
// (their At set), ending it if the last one is an ended event. queue, if
// set, is stored as the session's "queue" field, as queues will.
func storedSession(t *testing.T, db *DB, customer string, created time.Time, queue string, events ...parley.Event) string {
	t.Helper()
	r := &parley.SessionRecord{
		ID: parley.NewID(created), State: parley.StateQueued, Agents: []parley.AgentRef{},
		Customer:  parley.Customer{ID: customer},
		CreatedAt: parley.TimeOf(created), QueuedAt: parley.TimeOf(created),
	}
	update(t, db, func(tx *Tx) error {
		if err := tx.PutSession(r); err != nil {
			return err
		}
		for _, ev := range events {
			if _, err := tx.Append(r.ID, &ev); err != nil {
				return err
			}
			switch ev.Kind {
			case parley.KindAgentJoined:
				r.State = parley.StateActive
				if r.AssignedAt.IsZero() {
					r.AssignedAt = ev.At
				}
			case parley.KindEnded:
				r.State, r.EndedAt, r.EndReason = parley.StateEnded, ev.At, ev.Reason
			}
		}
		if err := tx.PutSession(r); err != nil {
			return err
		}
		if queue == "" {
			return nil
		}
		// Add the queue field to the stored JSON, as a later version
		// of the session record would have it.
		b, _ := tx.bucket(bucketSessions)
		sid, _ := parseID(r.ID)
		raw := b.Get(sid[:])
		withQueue := append([]byte(`{"queue":"`+queue+`",`), raw[1:]...)
		return b.Put(sid[:], withQueue)
	})
	return r.ID
}

func evAt(kind string, at time.Time, from parley.Participant) parley.Event {
	return parley.Event{Kind: kind, At: parley.TimeOf(at), From: from}
}

func TestSessionMilestonesWindowAndPaging(t *testing.T) {
	db := openTest(t, Options{})
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	since, until := t0.Add(10*time.Hour), t0.Add(20*time.Hour)
	cust := parley.Participant{Role: parley.RoleCustomer, ID: "c"}
	alice := parley.Participant{Role: parley.RoleAgent, ID: parley.NewID(t0), Name: "Alice"}
	bob := parley.Participant{Role: parley.RoleAgent, ID: parley.NewID(t0), Name: "Bob"}
	at := func(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

	// Ended before the window: left out.
	storedSession(t, db, "c1", at(1, 0), "", evAt(parley.KindQueued, at(1, 0), cust), evAt(parley.KindEnded, at(2, 0), cust))
	// Created before the window, ended within it.
	before := storedSession(t, db, "c2", at(9, 0), "sales",
		evAt(parley.KindQueued, at(9, 0), cust), evAt(parley.KindAgentJoined, at(10, 30), alice),
		evAt(parley.KindEnded, at(11, 0), cust))
	// Within the window, with a requeue, a whisper and two agents.
	whisper := evAt(parley.KindMessage, at(12, 1), alice)
	whisper.Whisper = true
	left := evAt(parley.KindAgentLeft, at(12, 10), alice)
	left.Reason = "disconnected"
	ended := evAt(parley.KindEnded, at(13, 0), bob)
	ended.Reason = parley.EndAgent
	busy := storedSession(t, db, "c3", at(12, 0), "",
		evAt(parley.KindQueued, at(12, 0), cust), evAt(parley.KindAgentJoined, at(12, 1), alice), whisper,
		evAt(parley.KindMessage, at(12, 2), cust), evAt(parley.KindMessage, at(12, 3), alice), left,
		evAt(parley.KindQueued, at(12, 10), cust), evAt(parley.KindAgentJoined, at(12, 20), bob),
		evAt(parley.KindAgentJoined, at(12, 21), alice),
		evAt(parley.KindMessage, at(12, 25), bob), ended)
	// Open, still queued.
	open := storedSession(t, db, "c4", at(15, 0), "", evAt(parley.KindQueued, at(15, 0), cust))
	// Created after the window (still open): left out.
	storedSession(t, db, "c5", at(21, 0), "", evAt(parley.KindQueued, at(21, 0), cust))

	collect := func(limit int) (ms []Milestones, pages int) {
		q := MilestoneQuery{Since: since, Until: until, Limit: limit}
		for {
			pages++
			var next string
			require.NoError(t, db.View(func(tx *Tx) (err error) {
				next, err = tx.SessionMilestones(q, func(m Milestones) error { ms = append(ms, m); return nil })
				return err
			}))
			if next == "" {
				return ms, pages
			}
			q.After = next
		}
	}
	all, pages := collect(0)
	assert.Equal(t, 1, pages)
	paged, pages := collect(1)
	assert.Equal(t, all, paged)
	assert.GreaterOrEqual(t, pages, 3)

	require.Len(t, all, 3)
	// Ended ones first, by end time, then the open one.
	assert.Equal(t, []string{before, busy, open}, []string{all[0].SessionID, all[1].SessionID, all[2].SessionID})
	assert.Equal(t, "sales", all[0].Queue)
	assert.Equal(t, at(10, 30), all[0].AssignedAt)

	b := all[1]
	assert.Equal(t, "", b.Queue)
	assert.Equal(t, "c3", b.CustomerID)
	assert.Equal(t, at(12, 0), b.QueuedAt)
	assert.Equal(t, at(12, 1), b.AssignedAt)
	assert.Equal(t, at(12, 3), b.FirstReplyAt, "the whisper is no reply")
	assert.Equal(t, at(13, 0), b.EndedAt)
	assert.Equal(t, parley.EndAgent, b.EndReason)
	assert.Equal(t, []AgentSpan{
		{AgentID: alice.ID, JoinedAt: at(12, 1), FirstReplyAt: at(12, 3), LeftAt: at(12, 10), LeftReason: "disconnected"},
		{AgentID: bob.ID, JoinedAt: at(12, 20), FirstReplyAt: at(12, 25), LeftAt: at(13, 0), LeftReason: "ended"},
		{AgentID: alice.ID, JoinedAt: at(12, 21), LeftAt: at(13, 0), LeftReason: "ended"},
	}, b.Agents)

	o := all[2]
	assert.Equal(t, parley.StateQueued, o.State)
	assert.True(t, o.AssignedAt.IsZero())
	assert.True(t, o.EndedAt.IsZero())
	assert.Empty(t, o.Agents)

	err := db.View(func(tx *Tx) error {
		_, err := tx.SessionMilestones(MilestoneQuery{Since: since, Until: until, After: "x:zz"}, func(Milestones) error { return nil })
		return err
	})
	assert.Equal(t, parley.EBadRequest, parley.ErrorCode(err))
}

// BenchmarkSessionMilestones walks the milestones of 2,000 ended sessions
// of 12 events each, a page of 500 at a time, as a report does.
func BenchmarkSessionMilestones(b *testing.B) {
	db := openTest(b, Options{})
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	cust := parley.Participant{Role: parley.RoleCustomer, ID: "c"}
	agent := parley.Participant{Role: parley.RoleAgent, ID: parley.NewID(t0)}
	const sessions = 2000
	for i := range sessions {
		at := t0.Add(time.Duration(i) * time.Minute)
		r := &parley.SessionRecord{ID: parley.NewID(at), State: parley.StateQueued, Agents: []parley.AgentRef{},
			Customer: parley.Customer{ID: "c" + parley.NewID(at)}, CreatedAt: parley.TimeOf(at), QueuedAt: parley.TimeOf(at)}
		update(b, db, func(tx *Tx) error {
			if err := tx.PutSession(r); err != nil {
				return err
			}
			evs := []parley.Event{evAt(parley.KindQueued, at, cust), evAt(parley.KindAgentJoined, at.Add(time.Second), agent)}
			for j := range 9 {
				from := cust
				if j%2 == 1 {
					from = agent
				}
				e := evAt(parley.KindMessage, at.Add(time.Duration(j+2)*time.Second), from)
				e.Text = "a message of some ordinary length, as people write them"
				evs = append(evs, e)
			}
			evs = append(evs, evAt(parley.KindEnded, at.Add(20*time.Second), cust))
			for _, ev := range evs {
				if _, err := tx.Append(r.ID, &ev); err != nil {
					return err
				}
			}
			r.State, r.EndedAt = parley.StateEnded, parley.TimeOf(at.Add(20*time.Second))
			return tx.PutSession(r)
		})
	}
	b.ResetTimer()
	for range b.N {
		n := 0
		q := MilestoneQuery{Since: t0, Until: t0.Add(sessions * time.Minute)}
		require.NoError(b, db.View(func(tx *Tx) error {
			for {
				next, err := tx.SessionMilestones(q, func(Milestones) error { n++; return nil })
				if err != nil || next == "" {
					return err
				}
				q.After = next
			}
		}))
		require.Equal(b, sessions, n)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*sessions), "µs/session")
}
