package chat

import (
	"sync/atomic"

	"github.com/parley-chat/parley/queue"
	"github.com/parley-chat/parley/storage"
)

// counters are the hub's monotonic counters, read by Stats.
type counters struct {
	messages    atomic.Uint64 // messages stored (not counting duplicates)
	duplicates  atomic.Uint64 // sends answered with an earlier ack
	assignments atomic.Uint64 // agents joined to sessions
	ended       atomic.Uint64 // sessions ended
}

// Stats is a snapshot of the hub's activity, for metrics and operators.
// Counters count since the hub opened.
type Stats struct {
	OpenSessions   int            // sessions not ended
	Queued         int            // sessions waiting for an agent
	OldestWaitS    int            // how long the oldest waiting one has waited
	AgentsByStatus map[string]int // enabled agents by status
	Messages       uint64         // messages stored
	Duplicates     uint64         // sends answered with an earlier ack
	Assignments    uint64         // agents joined to sessions
	SessionsEnded  uint64         // sessions ended
	StorageCommits uint64         // group commits, each one fsync
	StorageWrites  uint64         // write operations in those commits
	CustomerConns  int            // open customer connections
	AgentConns     int            // open agent connections
	Customers      int            // customers with at least one connection
	Agents         int            // agents with at least one connection

	// StorageCommitSeconds is the latency of group commits, fsync included.
	StorageCommitSeconds storage.Histogram
}

// Stats returns a snapshot of the hub's activity.
func (h *Hub) Stats() Stats {
	st := Stats{
		Messages:       h.count.messages.Load(),
		Duplicates:     h.count.duplicates.Load(),
		Assignments:    h.count.assignments.Load(),
		SessionsEnded:  h.count.ended.Load(),
		AgentsByStatus: make(map[string]int),
	}
	ds := h.db.Stats()
	st.StorageCommits, st.StorageWrites = ds.Commits, ds.Ops
	st.StorageCommitSeconds = ds.CommitSeconds
	h.mu.RLock()
	st.OpenSessions = len(h.sessions)
	h.mu.RUnlock()
	_ = h.disp.call(func() {
		info := h.disp.m.QueueInfo(h.now())
		st.Queued, st.OldestWaitS = info.Waiting, info.OldestWaitS
		h.disp.m.Agents(func(_ string, v queue.AgentView, disabled bool) {
			if !disabled {
				st.AgentsByStatus[v.Status]++
			}
		})
	})
	h.reg.mu.RLock()
	st.Customers = len(h.reg.customers)
	st.Agents = len(h.reg.agents)
	for _, set := range h.reg.customers {
		st.CustomerConns += len(set)
	}
	for _, set := range h.reg.agents {
		st.AgentConns += len(set)
	}
	h.reg.mu.RUnlock()
	return st
}
