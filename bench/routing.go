package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RoutingConfig configures the routing scenario.
type RoutingConfig struct {
	// Customers is how many customers queue; default 10,000.
	Customers int
	// Agents is how many agents take them; default 100.
	Agents int
	// Capacity is each agent's capacity; default 50. When the agents'
	// slots cannot take the whole queue at once, it is served in waves.
	Capacity int
	// EWTCustomers and EWTAgents size the wait-estimate phase that
	// follows the waves; defaults 60 and 4. EWTHandle is the mean handle
	// time of its chats (uniform between half and one and a half times
	// it); default 2s.
	EWTCustomers int
	EWTAgents    int
	EWTHandle    time.Duration
}

// RoutingResult is what the routing scenario reports.
type RoutingResult struct {
	Scenario        string  `json:"scenario"`
	Customers       int     `json:"customers"`
	Agents          int     `json:"agents"`
	Capacity        int     `json:"capacity"`
	Waves           int     `json:"waves"`
	Assignments     int     `json:"assignments"`
	AssignS         float64 `json:"assign_s"`
	AssignmentsPerS float64 `json:"assignments_per_s"`
	// FIFOViolations counts sessions assigned while a session that
	// entered the queue strictly earlier was left waiting.
	FIFOViolations int `json:"fifo_violations"`
	// LongestFreeViolations counts sessions that went to another agent
	// than the one whose slot had been free longest.
	LongestFreeViolations int `json:"longest_free_violations"`
	// Ambiguous counts sessions created in the same millisecond as
	// another, whose relative order the check cannot see.
	Ambiguous int `json:"ambiguous"`
	// EWTMAES is the mean absolute error, in seconds, of the wait
	// estimates customers were given (ewt_s of the start answer and of
	// each queue push) against the waits that followed, in the
	// wait-estimate phase; EWTSamples counts the estimates and
	// EWTMeanWaitS is the customers' mean wait.
	// EWTFixedMAES is the error a fixed 30 s per position would have had,
	// for comparison.
	EWTMAES      float64 `json:"ewt_mae_s"`
	EWTFixedMAES float64 `json:"ewt_fixed_mae_s"`
	EWTSamples   int     `json:"ewt_samples"`
	EWTMeanWaitS float64 `json:"ewt_mean_wait_s"`
}

func (c *RoutingConfig) defaults() {
	if c.Customers <= 0 {
		c.Customers = 10000
	}
	if c.Agents <= 0 {
		c.Agents = 100
	}
	if c.Capacity <= 0 {
		c.Capacity = 50
	}
	if c.EWTCustomers <= 0 {
		c.EWTCustomers = 60
	}
	if c.EWTAgents <= 0 {
		c.EWTAgents = 4
	}
	if c.EWTHandle <= 0 {
		c.EWTHandle = 2 * time.Second
	}
}

// rtAgent is one agent connection with what its reader saw.
type rtAgent struct {
	*conn
	mu       sync.Mutex
	assigned []string
	replies  map[string]chan *frame
	got      chan struct{} // signalled on every assignment
}

func (a *rtAgent) reader() {
	for {
		f, err := a.read()
		if err != nil {
			return
		}
		a.mu.Lock()
		if f.Type == "assigned" && f.Session != nil && f.Re == "" {
			a.assigned = append(a.assigned, f.Session.ID)
			a.mu.Unlock()
			select {
			case a.got <- struct{}{}:
			default:
			}
			continue
		}
		if ch := a.replies[f.Re]; f.Re != "" && ch != nil {
			delete(a.replies, f.Re)
			ch <- f
		}
		a.mu.Unlock()
	}
}

// call sends a frame with req and waits for the reply to it.
func (a *rtAgent) call(ctx context.Context, req string, v map[string]any) (*frame, error) {
	ch := make(chan *frame, 1)
	a.mu.Lock()
	a.replies[req] = ch
	a.mu.Unlock()
	v["req"] = req
	if err := a.send(v); err != nil {
		return nil, err
	}
	select {
	case f := <-ch:
		if f.Type == "error" {
			return nil, fmt.Errorf("%s: %s", f.Code, f.Message)
		}
		return f, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("no reply to %s within 60s", req)
	}
}

func (a *rtAgent) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.assigned
	a.assigned = nil
	return out
}

func (a *rtAgent) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.assigned)
}

// Routing queues customers, then makes agents available one after the
// other and checks every assignment: the queue must be served in order,
// and each agent, whose slots became free in the order the agents became
// available, must get the next block of sessions.
func Routing(ctx context.Context, o Options, cfg RoutingConfig) (*RoutingResult, error) {
	cfg.defaults()
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	st := &status{w: o.Status}
	defer st.done()
	res := &RoutingResult{Scenario: "routing", Customers: cfg.Customers, Agents: cfg.Agents, Capacity: cfg.Capacity}
	st.printf("routing: starting server")
	srv, err := startServer(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	st.printf("routing: adding %d agents", cfg.Agents)
	accts, err := srv.addAgents(ctx, "rt", cfg.Agents, cfg.Capacity)
	if err != nil {
		return nil, err
	}
	agents := make([]*rtAgent, cfg.Agents)
	gotAny := make(chan struct{}, 1)
	var all []*conn
	var mu sync.Mutex
	defer func() {
		for _, c := range all {
			_ = c.ws.Close()
		}
	}()
	keep := func(c *conn) {
		mu.Lock()
		all = append(all, c)
		mu.Unlock()
	}
	err = parallel(ctx, cfg.Agents, 16, func(i int) error {
		c, err := srv.dialHello(ctx, i, "/v1/agent/ws", accts[i].token)
		if err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
		keep(c)
		agents[i] = &rtAgent{conn: c, replies: make(map[string]chan *frame), got: gotAny}
		go agents[i].reader()
		return nil
	})
	if err != nil {
		return nil, err
	}

	// Queue the customers.
	type queued struct {
		id, at string
		pos    int
		c      *conn
		again  chan *frame
	}
	sessions := make([]*queued, cfg.Customers)
	run := randomHex(4)
	var done atomic.Int64
	stop := make(chan struct{})
	go ticker(500*time.Millisecond, stop, func() {
		st.printf("routing: %d/%d customers queued", done.Load(), cfg.Customers)
	})
	err = parallel(ctx, cfg.Customers, 64, func(i int) error {
		tok, err := srv.customerToken(fmt.Sprintf("rt-%s-%d", run, i))
		if err != nil {
			return err
		}
		c, err := srv.dialHello(ctx, cfg.Agents+i, "/v1/customer/ws", tok)
		if err != nil {
			return fmt.Errorf("customer %d: %w", i, err)
		}
		keep(c)
		if err := c.send(map[string]any{"type": "start"}); err != nil {
			return err
		}
		f, err := c.expect(60*time.Second, "session")
		if err != nil {
			return err
		}
		q := &queued{id: f.Session.ID, at: f.Session.CreatedAt, c: c, again: make(chan *frame, 1)}
		sessions[i] = q
		// Keep reading, so the server never waits on this client.
		go func() {
			for {
				f, err := c.read()
				if err != nil {
					return
				}
				if f.Type == "session" && f.Re == "pos" {
					q.again <- f
				}
			}
		}()
		done.Add(1)
		return nil
	})
	close(stop)
	if err != nil {
		return nil, err
	}
	// Each session's final place in the queue: start again answers with
	// the open session and its current position. Nothing changes the
	// queue now, so the positions are exact.
	st.printf("routing: reading queue positions")
	err = parallel(ctx, len(sessions), 64, func(i int) error {
		q := sessions[i]
		if err := q.c.send(map[string]any{"type": "start", "req": "pos"}); err != nil {
			return err
		}
		select {
		case f := <-q.again:
			if f.Session != nil {
				q.pos = f.Session.Position
			}
			return nil
		case <-time.After(60 * time.Second):
			return fmt.Errorf("no position for session %s", q.id)
		}
	})
	if err != nil {
		return nil, err
	}
	// Queue order: by position; should positions be missing or repeat,
	// by creation time, with sessions created in the same millisecond
	// counted as ties.
	exact := true
	seen := make(map[int]bool, len(sessions))
	for _, q := range sessions {
		p := q.pos
		if p <= 0 || seen[p] {
			exact = false
		}
		seen[p] = true
	}
	if exact {
		slices.SortFunc(sessions, func(a, b *queued) int { return a.pos - b.pos })
	} else {
		slices.SortStableFunc(sessions, func(a, b *queued) int { return cmpString(a.at, b.at) })
		for i := range sessions {
			if (i > 0 && sessions[i-1].at == sessions[i].at) || (i+1 < len(sessions) && sessions[i+1].at == sessions[i].at) {
				res.Ambiguous++
			}
		}
	}
	tie := func(a, b *queued) bool { return !exact && a.at == b.at }

	slots := cfg.Agents * cfg.Capacity
	var total time.Duration
	for remaining := sessions; len(remaining) > 0; {
		res.Waves++
		wave := min(slots, len(remaining))
		// Rank interval of each remaining session: sessions created in
		// the same millisecond may be in either order.
		lo := make(map[string]int, len(remaining))
		hi := make(map[string]int, len(remaining))
		for i := 0; i < len(remaining); {
			j := i
			for j+1 < len(remaining) && tie(remaining[j+1], remaining[i]) {
				j++
			}
			for k := i; k <= j; k++ {
				lo[remaining[k].id], hi[remaining[k].id] = i, j
			}
			i = j + 1
		}
		st.printf("routing: wave %d, %d assignments", res.Waves, wave)
		start := time.Now()
		for i, a := range agents {
			if _, err := a.call(ctx, fmt.Sprintf("avail-%d-%d", res.Waves, i), map[string]any{"type": "status", "status": "available"}); err != nil {
				return nil, fmt.Errorf("agent %d available: %w", i, err)
			}
		}
		got := 0
		deadline := time.Now().Add(2 * time.Minute)
		for got < wave {
			got = 0
			for _, a := range agents {
				got += a.count()
			}
			if got >= wave {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("wave %d: only %d of %d assignments within 2 minutes", res.Waves, got, wave)
			}
			select {
			case <-gotAny:
			case <-time.After(time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		total += time.Since(start)
		// Check every assignment, then end the wave's sessions.
		assigned := make(map[string]bool, wave)
		for i, a := range agents {
			ids := a.take()
			for _, id := range ids {
				assigned[id] = true
				l, ok := lo[id]
				if !ok {
					return nil, fmt.Errorf("agent %d was assigned unknown session %s", i, id)
				}
				if l >= wave {
					res.FIFOViolations++
				}
				if h := hi[id]; h < i*cfg.Capacity || l >= (i+1)*cfg.Capacity {
					res.LongestFreeViolations++
				}
			}
			if _, err := a.call(ctx, fmt.Sprintf("break-%d-%d", res.Waves, i), map[string]any{"type": "status", "status": "break"}); err != nil {
				return nil, err
			}
			err := parallel(ctx, len(ids), 8, func(k int) error {
				_, err := a.call(ctx, "end-"+ids[k], map[string]any{"type": "end", "session_id": ids[k]})
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("end wave %d: %w", res.Waves, err)
			}
		}
		res.Assignments += len(assigned)
		next := remaining[:0:0]
		for _, s := range remaining {
			if !assigned[s.id] {
				next = append(next, s)
			}
		}
		remaining = next
	}
	res.AssignS = round3(total.Seconds())
	if total > 0 {
		res.AssignmentsPerS = round3(float64(res.Assignments) / total.Seconds())
	}
	// Every agent of the waves is on break now.
	if err := routingEWT(ctx, srv, cfg, st, res); err != nil {
		return nil, err
	}
	return res, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
