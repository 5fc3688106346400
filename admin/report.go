package admin

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Reports: what the agents did and how the queue fared within a window
// [since, until). Everything is computed "as of until": a reply, a leave,
// an assignment or an end at or after until has not happened yet. The
// computation is pure (ComputeAgentReport, ComputeQueueReport); the admin
// commands stream the stored records into the same builders.
//
// Percentiles are nearest-rank: the p-th percentile of n sorted values is
// the value at rank ceil(p/100*n), so the median of an even count is the
// lower middle value and every reported value is one that was measured.

// DefaultQueue names the queue of sessions that name none.
const DefaultQueue = "default"

// ReportArgs are the arguments of report.agents and report.queue.
type ReportArgs struct {
	// Since is how far back the window reaches from Until, e.g. "7d";
	// default 7d.
	Since string `json:"since,omitempty"`
	// Until ends the window (RFC 3339); default now.
	Until string `json:"until,omitempty"`
	// By splits the queue report into hours or days ("hour", "day"); ""
	// is one bucket for the whole window.
	By string `json:"by,omitempty"`
}

// AgentReport is the result of report.agents.
type AgentReport struct {
	Since  parley.Time      `json:"since"`
	Until  parley.Time      `json:"until"`
	Agents []AgentReportRow `json:"agents"`
}

// AgentReportRow is one agent's work within the window. Durations are in
// seconds; a percentile of nothing is null.
type AgentReportRow struct {
	AgentID string `json:"agent_id"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	// ChatsHandled counts the agent's joins within the window.
	ChatsHandled int `json:"chats_handled"`
	// FirstResponse is from a join to the agent's first message after it.
	FirstResponseP50 *float64 `json:"first_response_p50_s"`
	FirstResponseP90 *float64 `json:"first_response_p90_s"`
	// Handle is from a join to the agent's leaving or the end, for the
	// joins within the window that are over.
	HandleP50 *float64 `json:"handle_p50_s"`
	// Time spent in each status within the window; an agent without any
	// recorded status yet counts as offline.
	AvailableS float64 `json:"available_s"`
	DrainingS  float64 `json:"draining_s"`
	BreakS     float64 `json:"break_s"`
	OfflineS   float64 `json:"offline_s"`
}

// QueueReport is the result of report.queue.
type QueueReport struct {
	Since parley.Time      `json:"since"`
	Until parley.Time      `json:"until"`
	By    string           `json:"by,omitempty"`
	Rows  []QueueReportRow `json:"rows"`
}

// QueueReportRow describes the sessions of one queue that arrived within
// one bucket: Arrivals = Served + Abandoned + Waiting. Waits are from
// arrival to the first agent, over the served sessions.
type QueueReportRow struct {
	Start     parley.Time `json:"start"`
	End       parley.Time `json:"end"`
	Queue     string      `json:"queue"`
	Arrivals  int         `json:"arrivals"`
	Served    int         `json:"served"`
	Abandoned int         `json:"abandoned"`
	// Waiting counts the sessions still without an agent and not ended.
	Waiting  int      `json:"waiting"`
	WaitP50  *float64 `json:"wait_p50_s"`
	WaitP90  *float64 `json:"wait_p90_s"`
	WaitMaxS *float64 `json:"wait_max_s"`
}

// AgentName names an agent in a report.
type AgentName struct{ Name, Email string }

// ComputeAgentReport computes the agent report of the window [since,
// until) over status changes (each agent's in time order, its last change
// before since included) and session milestones. names adds names and
// lists agents without any record.
func ComputeAgentReport(since, until time.Time, statuses []storage.StatusChange, sessions []storage.Milestones, names map[string]AgentName) AgentReport {
	b := newAgentReportBuilder(since, until)
	for _, c := range statuses {
		b.addStatus(c)
	}
	for _, m := range sessions {
		b.addSession(m)
	}
	return b.report(names)
}

// ComputeQueueReport computes the queue report of the window [since,
// until) over session milestones; by is "", "hour" or "day".
func ComputeQueueReport(since, until time.Time, by string, sessions []storage.Milestones) QueueReport {
	b := newQueueReportBuilder(since, until, by)
	for _, m := range sessions {
		b.addSession(m)
	}
	return b.report()
}

// agentAcc accumulates one agent's figures.
type agentAcc struct {
	handled        int
	firstResponses []time.Duration
	handles        []time.Duration
	inStatus       map[string]time.Duration
	// status is the agent's status at last, from lastAt on.
	status string
	lastAt time.Time
}

// agentReportBuilder accumulates an agent report.
type agentReportBuilder struct {
	since, until time.Time
	agents       map[string]*agentAcc
}

func newAgentReportBuilder(since, until time.Time) *agentReportBuilder {
	return &agentReportBuilder{since: since, until: until, agents: map[string]*agentAcc{}}
}

func (b *agentReportBuilder) agent(id string) *agentAcc {
	a := b.agents[id]
	if a == nil {
		a = &agentAcc{inStatus: map[string]time.Duration{}, status: parley.StatusOffline, lastAt: b.since}
		b.agents[id] = a
	}
	return a
}

// addStatus adds one status change; an agent's changes must come in time
// order.
func (b *agentReportBuilder) addStatus(c storage.StatusChange) {
	a := b.agent(c.AgentID)
	if !c.At.Before(b.until) {
		return
	}
	if c.At.After(a.lastAt) {
		a.inStatus[a.status] += c.At.Sub(a.lastAt)
		a.lastAt = c.At
	}
	a.status = c.Status
}

// addSession adds the agents' stays of one session that began within the
// window.
func (b *agentReportBuilder) addSession(m storage.Milestones) {
	for _, sp := range m.Agents {
		if !b.within(sp.JoinedAt) {
			continue
		}
		a := b.agent(sp.AgentID)
		a.handled++
		if !sp.FirstReplyAt.IsZero() && sp.FirstReplyAt.Before(b.until) {
			a.firstResponses = append(a.firstResponses, sp.FirstReplyAt.Sub(sp.JoinedAt))
		}
		if !sp.LeftAt.IsZero() && sp.LeftAt.Before(b.until) {
			a.handles = append(a.handles, sp.LeftAt.Sub(sp.JoinedAt))
		}
	}
}

func (b *agentReportBuilder) within(t time.Time) bool {
	return !t.IsZero() && !t.Before(b.since) && t.Before(b.until)
}

// report finishes the status intervals at until and lists the agents,
// by name and then id.
func (b *agentReportBuilder) report(names map[string]AgentName) AgentReport {
	for id := range names {
		b.agent(id)
	}
	rep := AgentReport{Since: parley.TimeOf(b.since), Until: parley.TimeOf(b.until), Agents: []AgentReportRow{}}
	for id, a := range b.agents {
		if b.until.After(a.lastAt) {
			a.inStatus[a.status] += b.until.Sub(a.lastAt)
			a.lastAt = b.until
		}
		n := names[id]
		rep.Agents = append(rep.Agents, AgentReportRow{
			AgentID: id, Name: n.Name, Email: n.Email, ChatsHandled: a.handled,
			FirstResponseP50: percentile(a.firstResponses, 50),
			FirstResponseP90: percentile(a.firstResponses, 90),
			HandleP50:        percentile(a.handles, 50),
			AvailableS:       seconds(a.inStatus[parley.StatusAvailable]),
			DrainingS:        seconds(a.inStatus[parley.StatusDraining]),
			BreakS:           seconds(a.inStatus[parley.StatusBreak]),
			OfflineS:         seconds(a.inStatus[parley.StatusOffline]),
		})
	}
	slices.SortFunc(rep.Agents, func(x, y AgentReportRow) int {
		return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.AgentID, y.AgentID))
	})
	return rep
}

// queueBucketKey identifies one row of a queue report.
type queueBucketKey struct {
	start time.Time
	queue string
}

// queueAcc accumulates one row.
type queueAcc struct {
	arrivals, served, abandoned, waiting int
	waits                                []time.Duration
}

// queueReportBuilder accumulates a queue report.
type queueReportBuilder struct {
	since, until time.Time
	by           string
	rows         map[queueBucketKey]*queueAcc
}

func newQueueReportBuilder(since, until time.Time, by string) *queueReportBuilder {
	return &queueReportBuilder{since: since, until: until, by: by, rows: map[queueBucketKey]*queueAcc{}}
}

// bucket returns the start and end of the bucket holding t.
func (b *queueReportBuilder) bucket(t time.Time) (start, end time.Time) {
	switch b.by {
	case "hour":
		start = t.UTC().Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case "day":
		u := t.UTC()
		start = time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	}
	return b.since, b.until
}

// addSession counts a session that arrived within the window.
func (b *queueReportBuilder) addSession(m storage.Milestones) {
	if m.QueuedAt.Before(b.since) || !m.QueuedAt.Before(b.until) {
		return
	}
	start, _ := b.bucket(m.QueuedAt)
	key := queueBucketKey{start: start, queue: cmp.Or(m.Queue, DefaultQueue)}
	r := b.rows[key]
	if r == nil {
		r = &queueAcc{}
		b.rows[key] = r
	}
	r.arrivals++
	switch {
	case !m.AssignedAt.IsZero() && m.AssignedAt.Before(b.until):
		r.served++
		r.waits = append(r.waits, m.AssignedAt.Sub(m.QueuedAt))
	case !m.EndedAt.IsZero() && m.EndedAt.Before(b.until):
		r.abandoned++
	default:
		r.waiting++
	}
}

// report lists the rows by bucket and then queue; buckets without
// arrivals are left out.
func (b *queueReportBuilder) report() QueueReport {
	rep := QueueReport{Since: parley.TimeOf(b.since), Until: parley.TimeOf(b.until), By: b.by, Rows: []QueueReportRow{}}
	for k, r := range b.rows {
		start, end := b.bucket(k.start)
		if b.by == "" {
			start, end = b.since, b.until
		}
		var maxWait *float64
		if len(r.waits) > 0 {
			v := seconds(slices.Max(r.waits))
			maxWait = &v
		}
		rep.Rows = append(rep.Rows, QueueReportRow{
			Start: parley.TimeOf(start), End: parley.TimeOf(end), Queue: k.queue,
			Arrivals: r.arrivals, Served: r.served, Abandoned: r.abandoned, Waiting: r.waiting,
			WaitP50: percentile(r.waits, 50), WaitP90: percentile(r.waits, 90), WaitMaxS: maxWait,
		})
	}
	slices.SortFunc(rep.Rows, func(x, y QueueReportRow) int {
		return cmp.Or(x.Start.Compare(y.Start.Time), cmp.Compare(x.Queue, y.Queue))
	})
	return rep
}

// percentile returns the nearest-rank p-th percentile of ds in seconds,
// or nil if ds is empty. It sorts ds.
func percentile(ds []time.Duration, p int) *float64 {
	if len(ds) == 0 {
		return nil
	}
	slices.Sort(ds)
	rank := int(math.Ceil(float64(p) / 100 * float64(len(ds))))
	v := seconds(ds[max(rank, 1)-1])
	return &v
}

// seconds converts d to seconds, at the millisecond precision of stored
// times.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// reportWindow parses the window of a report.
func (a *Admin) reportWindow(args ReportArgs) (since, until time.Time, err error) {
	until = a.now()
	if args.Until != "" {
		if until, err = time.Parse(time.RFC3339, args.Until); err != nil {
			return since, until, parley.Errorf(parley.EBadRequest, "until %q is not an RFC 3339 time (e.g. 2026-01-31T18:00:00Z).", args.Until)
		}
	}
	d := 7 * 24 * time.Hour
	if args.Since != "" {
		if d, err = parley.ParseDuration(args.Since); err != nil {
			return since, until, err
		}
	}
	if d <= 0 {
		return since, until, parley.Errorf(parley.EBadRequest, "since must be longer than 0.")
	}
	until = parley.TimeOf(until).Time
	return until.Add(-d), until, nil
}

// eachMilestones streams the milestones of the window's sessions, a page
// at a time, from one read transaction, so the report is of one moment.
func eachMilestones(tx *storage.Tx, since, until time.Time, fn func(storage.Milestones)) error {
	q := storage.MilestoneQuery{Since: since, Until: until}
	for {
		next, err := tx.SessionMilestones(q, func(m storage.Milestones) error { fn(m); return nil })
		if err != nil || next == "" {
			return err
		}
		q.After = next
	}
}

// ReportAgents reports, per agent, the chats handled, first-response and
// handle times and the time spent in each status, within the window.
func (a *Admin) ReportAgents(ctx context.Context, args ReportArgs) (AgentReport, error) {
	since, until, err := a.reportWindow(args)
	if err != nil {
		return AgentReport{}, err
	}
	b := newAgentReportBuilder(since, until)
	names := map[string]AgentName{}
	err = a.db.View(func(tx *storage.Tx) error {
		agents, err := tx.Agents()
		if err != nil {
			return err
		}
		for _, ag := range agents {
			names[ag.ID] = AgentName{Name: ag.Name, Email: ag.Email}
		}
		if err := tx.StatusAgents(func(id string) error {
			return tx.StatusHistory(id, since, until, func(c storage.StatusChange) error { b.addStatus(c); return nil })
		}); err != nil {
			return err
		}
		return eachMilestones(tx, since, until, b.addSession)
	})
	if err != nil {
		return AgentReport{}, err
	}
	return b.report(names), nil
}

// ReportQueue reports the arrivals, served and abandoned sessions and the
// waits of each queue, within the window, per hour or day if asked.
func (a *Admin) ReportQueue(ctx context.Context, args ReportArgs) (QueueReport, error) {
	switch args.By {
	case "", "hour", "day":
	default:
		return QueueReport{}, parley.Errorf(parley.EBadRequest, "by must be hour or day.")
	}
	since, until, err := a.reportWindow(args)
	if err != nil {
		return QueueReport{}, err
	}
	b := newQueueReportBuilder(since, until, args.By)
	err = a.db.View(func(tx *storage.Tx) error { return eachMilestones(tx, since, until, b.addSession) })
	if err != nil {
		return QueueReport{}, err
	}
	return b.report(), nil
}

func init() {
	adminCommands["report.agents"] = adminArgs((*Admin).ReportAgents)
	adminCommands["report.queue"] = adminArgs((*Admin).ReportQueue)
}
