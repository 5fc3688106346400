package storage

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// Session milestones are derived from the stored events rather than kept
// in a record of their own. The events already carry every time a report
// needs (queued, agent_joined, the agents' messages, agent_left, ended);
// deriving costs nothing on the chat path (no extra write, no hook in the
// session goroutine), cannot disagree with the conversation, and is purged
// and erased together with the session's events, by the code that purges
// them. The price is a walk over the events of the sessions a report
// covers, which a report, run now and then by an operator, can afford;
// SessionMilestones walks them a page at a time in bounded memory.

// Milestones are the times that matter for reports in one session.
type Milestones struct {
	SessionID  string
	CustomerID string
	// Queue is the queue the session was started in; "" when the session
	// names none (the default queue).
	Queue string
	State string
	// QueuedAt is when the session first entered the queue.
	QueuedAt time.Time
	// AssignedAt is when the first agent got it; zero if none ever did.
	AssignedAt time.Time
	// FirstReplyAt is the first message of an agent (whispers aside); zero
	// if none.
	FirstReplyAt time.Time
	// EndedAt and EndReason are zero while the session is open.
	EndedAt   time.Time
	EndReason string
	// Agents are the agents' stays in the session, in the order they
	// joined; an agent who joined twice has two.
	Agents []AgentSpan
}

// AgentSpan is one agent's stay in a session.
type AgentSpan struct {
	AgentID  string
	JoinedAt time.Time
	// FirstReplyAt is the agent's first message of this stay; zero if none.
	FirstReplyAt time.Time
	// LeftAt is when the agent left or the session ended; zero while the
	// agent is still in it. LeftReason is agent_left's reason, or "ended".
	LeftAt     time.Time
	LeftReason string
}

// MilestoneQuery selects the sessions of a report window: every session
// created before Until that was open at some time at or after Since, i.e.
// that ended at or after Since or has not ended.
type MilestoneQuery struct {
	Since, Until time.Time
	// After is the cursor returned by the previous page; "" starts.
	After string
	// Limit bounds the sessions of one page; 0 means 500.
	Limit int
}

// defaultMilestonePage is the page size of SessionMilestones.
const defaultMilestonePage = 500

// Cursor prefixes: the walk goes through the ended index from Since, then
// through the open sessions.
const (
	cursorEnded = "e"
	cursorOpen  = "o"
)

// SessionMilestones calls fn with the milestones of at most q.Limit
// sessions of the window and returns the cursor of the next page, or ""
// when there is none. Sessions that ended come first (by end time), then
// the open ones (by customer id). Each page reads only its own sessions'
// records and events, so a caller that runs each page in its own View
// holds neither a long transaction nor more than a page in memory.
func (tx *Tx) SessionMilestones(q MilestoneQuery, fn func(Milestones) error) (next string, err error) {
	limit := q.Limit
	if limit <= 0 {
		limit = defaultMilestonePage
	}
	phase, after := cursorEnded, []byte(nil)
	if q.After != "" {
		p, h, ok := strings.Cut(q.After, ":")
		key, herr := hex.DecodeString(h)
		if !ok || herr != nil || (p != cursorEnded && p != cursorOpen) {
			return "", fmt.Errorf("storage: milestones: %w", parley.Errorf(parley.EBadRequest, "Bad cursor."))
		}
		phase, after = p, key
	}
	n := 0
	visit := func(sid ulid.ULID) (bool, error) {
		m, ok, err := tx.milestones(sid, q.Until)
		if err != nil || !ok {
			return false, err
		}
		n++
		return true, fn(m)
	}
	if phase == cursorEnded {
		b, err := tx.bucket(bucketEnded)
		if err != nil {
			return "", err
		}
		c := b.Cursor()
		var k []byte
		if after == nil {
			ms := msKey(q.Since)
			k, _ = c.Seek(ms[:])
		} else if k, _ = c.Seek(after); bytes.Equal(k, after) {
			k, _ = c.Next()
		}
		for ; k != nil; k, _ = c.Next() {
			if n == limit {
				return cursorEnded + ":" + hex.EncodeToString(after), nil
			}
			if len(k) != msLen+idLen {
				return "", fmt.Errorf("storage: corrupt ended key of %d bytes", len(k))
			}
			var sid ulid.ULID
			copy(sid[:], k[msLen:])
			if _, err := visit(sid); err != nil {
				return "", err
			}
			after = bytes.Clone(k)
		}
		phase, after = cursorOpen, nil
	}
	b, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return "", err
	}
	c := b.Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else if k, v = c.Seek(after); bytes.Equal(k, after) {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		if n == limit {
			return cursorOpen + ":" + hex.EncodeToString(after), nil
		}
		if len(v) != idLen {
			return "", fmt.Errorf("storage: corrupt open_sessions entry of %d bytes", len(v))
		}
		var sid ulid.ULID
		copy(sid[:], v)
		if _, err := visit(sid); err != nil {
			return "", err
		}
		after = bytes.Clone(k)
	}
	return "", nil
}

// sessionQueue is the part of a stored session that names its queue;
// sessions stored before queues existed have none.
type sessionQueue struct {
	Queue string `json:"queue"`
}

// milestones derives a session's milestones from its record and events.
// It reports false for a session created at or after until, which the
// window does not cover.
func (tx *Tx) milestones(sid ulid.ULID, until time.Time) (Milestones, bool, error) {
	b, err := tx.bucket(bucketSessions)
	if err != nil {
		return Milestones{}, false, err
	}
	raw := b.Get(sid[:])
	if raw == nil {
		return Milestones{}, false, fmt.Errorf("storage: index points at missing session %s", sid)
	}
	var r parley.SessionRecord
	if err := decode(raw, &r); err != nil {
		return Milestones{}, false, fmt.Errorf("session %s: %w", sid, err)
	}
	if !r.CreatedAt.Before(until) {
		return Milestones{}, false, nil
	}
	var sq sessionQueue
	if err := decode(raw, &sq); err != nil {
		return Milestones{}, false, fmt.Errorf("session %s: %w", sid, err)
	}
	m := Milestones{
		SessionID: r.ID, CustomerID: r.Customer.ID, Queue: sq.Queue, State: r.State,
		QueuedAt: r.CreatedAt.Time, EndedAt: r.EndedAt.Time, EndReason: r.EndReason,
	}
	// open is the index in m.Agents of each agent's current stay.
	open := map[string]int{}
	queued := false
	err = tx.eachMilestoneEvent(sid, func(ev *milestoneEvent) error {
		at := ev.At.Time
		switch ev.Kind {
		case parley.KindQueued:
			if !queued {
				m.QueuedAt, queued = at, true
			}
		case parley.KindAgentJoined:
			if m.AssignedAt.IsZero() {
				m.AssignedAt = at
			}
			if _, in := open[ev.From.ID]; !in {
				open[ev.From.ID] = len(m.Agents)
				m.Agents = append(m.Agents, AgentSpan{AgentID: ev.From.ID, JoinedAt: at})
			}
		case parley.KindMessage:
			if ev.From.Role != parley.RoleAgent || ev.Whisper {
				return nil
			}
			if m.FirstReplyAt.IsZero() {
				m.FirstReplyAt = at
			}
			if i, in := open[ev.From.ID]; in && m.Agents[i].FirstReplyAt.IsZero() {
				m.Agents[i].FirstReplyAt = at
			}
		case parley.KindAgentLeft:
			if i, in := open[ev.From.ID]; in {
				m.Agents[i].LeftAt, m.Agents[i].LeftReason = at, firstOf(ev.Reason, "left")
				delete(open, ev.From.ID)
			}
		case parley.KindEnded:
			for _, i := range open {
				m.Agents[i].LeftAt, m.Agents[i].LeftReason = at, "ended"
			}
			clear(open)
		}
		return nil
	})
	if err != nil {
		return Milestones{}, false, err
	}
	// The first assignment's own time is the dispatcher's stamp, which the
	// record keeps; the join event is stored a moment later.
	if !r.AssignedAt.IsZero() && !m.AssignedAt.IsZero() && r.AssignedAt.Before(m.AssignedAt) {
		m.AssignedAt = r.AssignedAt.Time
	}
	return m, true, nil
}

// milestoneEvent is the part of a stored event milestones need: decoding
// only it skips the text.
type milestoneEvent struct {
	Kind string      `json:"kind"`
	At   parley.Time `json:"at"`
	From struct {
		Role string `json:"role"`
		ID   string `json:"id"`
	} `json:"from"`
	Whisper bool   `json:"whisper"`
	Reason  string `json:"reason"`
}

// eachMilestoneEvent calls fn with every event of a session, oldest first,
// reusing one value.
func (tx *Tx) eachMilestoneEvent(sid ulid.ULID, fn func(*milestoneEvent) error) error {
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return err
	}
	c := b.Cursor()
	var ev milestoneEvent
	for k, v := c.Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]); k, v = c.Next() {
		ev = milestoneEvent{}
		if err := decode(v, &ev); err != nil {
			return fmt.Errorf("event %x of session %s: %w", k[idLen:], sid, err)
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	return nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
