package admin_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// reportT0 opens the crafted window [T, T+10h).
var reportT0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// rt returns T plus h hours, m minutes and s seconds.
func rt(h, m, s int) time.Time {
	return reportT0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
}

// Agent ids of the crafted history.
var (
	alice = parley.NewID(reportT0)
	bob   = parley.NewID(reportT0)
	carol = parley.NewID(reportT0)
)

// craftedStatuses: Alice has been available since before the window;
// Bob's history starts within it and goes on after it.
func craftedStatuses() []storage.StatusChange {
	st := func(agent string, at time.Time, status string) storage.StatusChange {
		return storage.StatusChange{AgentID: agent, At: at, Status: status}
	}
	return []storage.StatusChange{
		st(alice, rt(-2, 0, 0), parley.StatusAvailable),
		st(alice, rt(1, 0, 0), parley.StatusBreak),
		st(alice, rt(1, 30, 0), parley.StatusAvailable),
		st(alice, rt(3, 0, 0), parley.StatusDraining),
		st(alice, rt(3, 20, 0), parley.StatusBreak),
		st(alice, rt(8, 0, 0), parley.StatusOffline),
		st(bob, rt(2, 0, 0), parley.StatusAvailable),
		st(bob, rt(12, 0, 0), parley.StatusOffline),
	}
}

// craftedSessions are eight sessions around the window.
func craftedSessions() []storage.Milestones {
	span := func(agent string, joined, reply, left time.Time) storage.AgentSpan {
		return storage.AgentSpan{AgentID: agent, JoinedAt: joined, FirstReplyAt: reply, LeftAt: left}
	}
	var zero time.Time
	return []storage.Milestones{
		// S1: waited 60s, Alice answered in 20s, handled 14m.
		{SessionID: "S1", QueuedAt: rt(0, 30, 0), AssignedAt: rt(0, 31, 0), FirstReplyAt: rt(0, 31, 20), EndedAt: rt(0, 45, 0),
			Agents: []storage.AgentSpan{span(alice, rt(0, 31, 0), rt(0, 31, 20), rt(0, 45, 0))}},
		// S2: arrived before the window; Alice joined within it (40s, 10m).
		{SessionID: "S2", Queue: "sales", QueuedAt: rt(-1, 0, 0), AssignedAt: rt(0, 10, 0), FirstReplyAt: rt(0, 10, 40), EndedAt: rt(0, 20, 0),
			Agents: []storage.AgentSpan{span(alice, rt(0, 10, 0), rt(0, 10, 40), rt(0, 20, 0))}},
		// S3: waited 5m, Bob answered in 10s, handled 30m.
		{SessionID: "S3", QueuedAt: rt(2, 0, 0), AssignedAt: rt(2, 5, 0), FirstReplyAt: rt(2, 5, 10), EndedAt: rt(2, 35, 0),
			Agents: []storage.AgentSpan{span(bob, rt(2, 5, 0), rt(2, 5, 10), rt(2, 35, 0))}},
		// S4: abandoned after 5m without an agent.
		{SessionID: "S4", QueuedAt: rt(2, 10, 0), EndedAt: rt(2, 15, 0), EndReason: parley.EndAbandoned},
		// S5: still open: Bob joined after 2m and has not answered yet.
		{SessionID: "S5", QueuedAt: rt(9, 0, 0), AssignedAt: rt(9, 2, 0),
			Agents: []storage.AgentSpan{span(bob, rt(9, 2, 0), zero, zero)}},
		// S6: still waiting.
		{SessionID: "S6", Queue: "sales", QueuedAt: rt(9, 30, 0)},
		// S7: waited 90s, Alice answered in 30s; it ends after the window.
		{SessionID: "S7", Queue: "sales", QueuedAt: rt(4, 0, 0), AssignedAt: rt(4, 1, 30), FirstReplyAt: rt(4, 2, 0), EndedAt: rt(11, 0, 0),
			Agents: []storage.AgentSpan{span(alice, rt(4, 1, 30), rt(4, 2, 0), rt(11, 0, 0))}},
		// S8: arrived within the window, assigned only after it.
		{SessionID: "S8", QueuedAt: rt(9, 50, 0), AssignedAt: rt(10, 5, 0),
			Agents: []storage.AgentSpan{span(bob, rt(10, 5, 0), zero, zero)}},
	}
}

func sec(v float64) *float64 { return &v }

func TestComputeAgentReport(t *testing.T) {
	names := map[string]admin.AgentName{
		alice: {Name: "Alice", Email: "alice@example.com"},
		bob:   {Name: "Bob"},
		carol: {Name: "Carol"},
	}
	rep := admin.ComputeAgentReport(rt(0, 0, 0), rt(10, 0, 0), craftedStatuses(), craftedSessions(), names)
	assert.Equal(t, parley.TimeOf(rt(0, 0, 0)), rep.Since)
	assert.Equal(t, parley.TimeOf(rt(10, 0, 0)), rep.Until)
	assert.Equal(t, []admin.AgentReportRow{
		{
			AgentID: alice, Name: "Alice", Email: "alice@example.com", ChatsHandled: 3,
			// First responses 20, 40, 30; handles 840, 600 (S7 is not over).
			FirstResponseP50: sec(30), FirstResponseP90: sec(40), HandleP50: sec(600),
			// Available from before the window to 1h, and 1h30 to 3h.
			AvailableS: 3600 + 5400, DrainingS: 1200, BreakS: 1800 + 16800, OfflineS: 7200,
		},
		{
			AgentID: bob, Name: "Bob", ChatsHandled: 2,
			FirstResponseP50: sec(10), FirstResponseP90: sec(10), HandleP50: sec(1800),
			// Offline until its first change; its change after the
			// window does not count.
			AvailableS: 8 * 3600, OfflineS: 2 * 3600,
		},
		{AgentID: carol, Name: "Carol", OfflineS: 10 * 3600},
	}, rep.Agents)
	for _, r := range rep.Agents {
		assert.Equal(t, 36000.0, r.AvailableS+r.DrainingS+r.BreakS+r.OfflineS, r.Name)
	}

	// A window that ends at 1h15m: S1 and S2 only, Alice on break since 1h.
	rep = admin.ComputeAgentReport(rt(0, 0, 0), rt(1, 15, 0), craftedStatuses(), craftedSessions(), nil)
	require.Len(t, rep.Agents, 2)
	assert.Equal(t, admin.AgentReportRow{
		AgentID: alice, ChatsHandled: 2, FirstResponseP50: sec(20), FirstResponseP90: sec(40), HandleP50: sec(600),
		AvailableS: 3600, BreakS: 900,
	}, rep.Agents[0])
	assert.Equal(t, admin.AgentReportRow{AgentID: bob, OfflineS: 4500}, rep.Agents[1])
}

func TestComputeQueueReport(t *testing.T) {
	row := func(start, end time.Time, queue string, arr, served, aband, waiting int, waits ...float64) admin.QueueReportRow {
		r := admin.QueueReportRow{
			Start: parley.TimeOf(start), End: parley.TimeOf(end), Queue: queue,
			Arrivals: arr, Served: served, Abandoned: aband, Waiting: waiting,
		}
		if len(waits) > 0 {
			r.WaitP50, r.WaitP90, r.WaitMaxS = sec(waits[0]), sec(waits[1]), sec(waits[2])
		}
		return r
	}
	since, until := rt(0, 0, 0), rt(10, 0, 0)

	rep := admin.ComputeQueueReport(since, until, "", craftedSessions())
	assert.Equal(t, []admin.QueueReportRow{
		// S1, S3, S4, S5, S8: waits 60, 300, 120.
		row(since, until, "default", 5, 3, 1, 1, 120, 300, 300),
		// S6, S7 (S2 arrived before the window).
		row(since, until, "sales", 2, 1, 0, 1, 90, 90, 90),
	}, rep.Rows)

	rep = admin.ComputeQueueReport(since, until, "hour", craftedSessions())
	assert.Equal(t, "hour", rep.By)
	assert.Equal(t, []admin.QueueReportRow{
		row(rt(0, 0, 0), rt(1, 0, 0), "default", 1, 1, 0, 0, 60, 60, 60),
		row(rt(2, 0, 0), rt(3, 0, 0), "default", 2, 1, 1, 0, 300, 300, 300),
		row(rt(4, 0, 0), rt(5, 0, 0), "sales", 1, 1, 0, 0, 90, 90, 90),
		row(rt(9, 0, 0), rt(10, 0, 0), "default", 2, 1, 0, 1, 120, 120, 120),
		row(rt(9, 0, 0), rt(10, 0, 0), "sales", 1, 0, 0, 1),
	}, rep.Rows)

	rep = admin.ComputeQueueReport(since, until, "day", craftedSessions())
	assert.Equal(t, []admin.QueueReportRow{
		row(rt(0, 0, 0), rt(24, 0, 0), "default", 5, 3, 1, 1, 120, 300, 300),
		row(rt(0, 0, 0), rt(24, 0, 0), "sales", 2, 1, 0, 1, 90, 90, 90),
	}, rep.Rows)

	// Nothing arrived: no rows, but an empty list.
	rep = admin.ComputeQueueReport(rt(20, 0, 0), rt(21, 0, 0), "", craftedSessions())
	assert.NotNil(t, rep.Rows)
	assert.Empty(t, rep.Rows)
}
