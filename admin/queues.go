package admin

import (
	"context"
	"slices"
	"strings"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

func init() {
	for name, cmd := range map[string]Command{
		"queue.add":     adminArgs((*Admin).AddQueue),
		"queue.rm":      adminArgs((*Admin).RemoveQueue),
		"queues.ls":     adminNoArgs((*Admin).ListQueues),
		"queue.explain": adminArgs((*Admin).ExplainSession),
	} {
		adminCommands[name] = cmd
	}
}

// servedQueues cleans an agent's list of queues: trimmed, sorted, without
// duplicates or empty names; nil means every queue.
func servedQueues(in []string) []string {
	var out []string
	for _, q := range in {
		if q = strings.TrimSpace(q); q != "" {
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkQueues fails with not_found unless every named queue exists.
func checkQueues(tx *storage.Tx, names []string) error {
	for _, n := range names {
		if _, err := tx.Queue(n); err != nil {
			return err
		}
	}
	return nil
}

// queueLive is what the running hub offers for queues; Offline has none of
// it, so admin falls back to the database alone.
type queueLive interface {
	QueueAdded(name string) error
	RemoveQueue(ctx context.Context, name string) error
	QueueInfo() parley.QueueInfo
	ExplainWaiting(id string) (chat.WaitingExplanation, bool, error)
}

func (l hubLive) QueueAdded(name string) error { return l.h.QueueAdded(name) }
func (l hubLive) RemoveQueue(ctx context.Context, name string) error {
	return l.h.RemoveQueue(ctx, name)
}
func (l hubLive) QueueInfo() parley.QueueInfo { return l.h.QueueInfo() }
func (l hubLive) ExplainWaiting(id string) (chat.WaitingExplanation, bool, error) {
	return l.h.ExplainWaiting(id)
}

// QueueAddArgs are the arguments of queue.add.
type QueueAddArgs struct {
	Name     string `json:"name"`
	Greeting string `json:"greeting,omitempty"`
}

// QueueNameArgs name one queue.
type QueueNameArgs struct {
	Name string `json:"name"`
}

// QueueListRow is one queue as queue ls shows it.
type QueueListRow struct {
	Name        string `json:"name"`
	Greeting    string `json:"greeting,omitempty"`
	Waiting     int    `json:"waiting"`
	OldestWaitS int    `json:"oldest_wait_s"`
	// AgentsServing counts the enabled agents that serve the queue;
	// AgentsAvailable those of them taking chats now (0 while the server
	// is stopped).
	AgentsServing   int         `json:"agents_serving"`
	AgentsAvailable int         `json:"agents_available"`
	CreatedAt       parley.Time `json:"created_at"`
}

// AddQueue creates a queue; a running server routes to it at once.
func (a *Admin) AddQueue(ctx context.Context, args QueueAddArgs) (QueueListRow, error) {
	args.Name = strings.TrimSpace(args.Name)
	if err := parley.ValidQueueName(args.Name); err != nil {
		return QueueListRow{}, err
	}
	if n := len([]rune(args.Greeting)); n > parley.MaxGreetingChars {
		return QueueListRow{}, parley.Errorf(parley.EBadRequest, "A greeting has at most %d characters.", parley.MaxGreetingChars)
	}
	q := parley.Queue{Name: args.Name, Greeting: args.Greeting, CreatedAt: parley.TimeOf(a.now())}
	if err := a.db.Update(ctx, func(tx *storage.Tx) error { return tx.AddQueue(q) }); err != nil {
		return QueueListRow{}, err
	}
	if l, ok := a.live.(queueLive); ok {
		if err := l.QueueAdded(q.Name); err != nil {
			return QueueListRow{}, err
		}
	}
	return QueueListRow{Name: q.Name, Greeting: q.Greeting, CreatedAt: q.CreatedAt}, nil
}

// RemoveQueue removes a queue. It is refused with conflict while sessions
// wait in it, and for the default queue.
func (a *Admin) RemoveQueue(ctx context.Context, args QueueNameArgs) (QueueListRow, error) {
	if args.Name == parley.DefaultQueue {
		return QueueListRow{}, parley.Errorf(parley.EConflict, "The default queue cannot be removed.")
	}
	if l, ok := a.live.(queueLive); ok {
		return QueueListRow{Name: args.Name}, l.RemoveQueue(ctx, args.Name)
	}
	err := a.db.Update(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Queue(args.Name); err != nil {
			return err
		}
		queued, err := tx.QueuedSessions()
		if err != nil {
			return err
		}
		n := 0
		for _, r := range queued {
			if r.QueueName() == args.Name {
				n++
			}
		}
		if n > 0 {
			return parley.Errorf(parley.EConflict, "%d session(s) wait in queue %s; it can be removed once they are served.", n, args.Name)
		}
		return tx.DeleteQueue(args.Name)
	})
	return QueueListRow{Name: args.Name}, err
}

// ListQueues lists every queue with how it stands.
func (a *Admin) ListQueues(ctx context.Context) ([]QueueListRow, error) {
	var (
		queues []parley.Queue
		agents []*parley.Agent
		queued []*parley.SessionRecord
	)
	err := a.db.View(func(tx *storage.Tx) (err error) {
		if queues, err = tx.Queues(); err != nil {
			return err
		}
		if agents, err = tx.Agents(); err != nil {
			return err
		}
		queued, err = tx.QueuedSessions()
		return err
	})
	if err != nil {
		return nil, err
	}
	rows := make([]QueueListRow, len(queues))
	byName := map[string]*QueueListRow{}
	for i, q := range queues {
		rows[i] = QueueListRow{Name: q.Name, Greeting: q.Greeting, CreatedAt: q.CreatedAt}
		byName[q.Name] = &rows[i]
		for _, ag := range agents {
			if !ag.Disabled && (len(ag.Queues) == 0 || slices.Contains(ag.Queues, q.Name)) {
				rows[i].AgentsServing++
			}
		}
	}
	if l, ok := a.live.(queueLive); ok {
		for _, d := range l.QueueInfo().Queues {
			if r := byName[d.Name]; r != nil {
				r.Waiting, r.OldestWaitS, r.AgentsAvailable = d.Waiting, d.OldestWaitS, d.AgentsAvailable
			}
		}
		return rows, nil
	}
	now := a.now()
	for _, s := range queued { // oldest first
		if r := byName[s.QueueName()]; r != nil {
			if r.Waiting == 0 {
				r.OldestWaitS = max(0, int(now.Sub(s.QueuedAt.Time).Seconds()))
			}
			r.Waiting++
		}
	}
	return rows, nil
}
