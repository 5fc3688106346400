package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/internal/wsclient"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// CrashConfig configures the crash scenario.
type CrashConfig struct {
	// Cycles is how many times the server is killed; default 10.
	Cycles int
	// Customers each keep one session open and chat in it; default 4.
	Customers int
	// Agents (capacity 2) take the sessions and chat in them; default 2.
	Agents int
	// Window is how many messages each sender keeps unacknowledged;
	// default 4.
	Window int
	// MaxUptime bounds how long the server runs before it is killed (the
	// moment is uniform in [0, MaxUptime)); default 800ms.
	MaxUptime time.Duration
	// Seed seeds the kill moments; 0 picks one (reported).
	Seed uint64
}

// CrashResult is what the crash scenario reports. acked counts distinct
// acknowledged messages; lost those of them missing from the database;
// duplicated messages stored more than once; out_of_order senders whose
// stored messages are not exactly their first messages in sending order;
// check_failures the cycles after which storage's consistency check (the
// one parley check runs) found a problem or could not run.
type CrashResult struct {
	Scenario      string  `json:"scenario"`
	Cycles        int     `json:"cycles"`
	Sent          int     `json:"sent"`
	Acked         int     `json:"acked"`
	Lost          int     `json:"lost"`
	Duplicated    int     `json:"duplicated"`
	OutOfOrder    int     `json:"out_of_order"`
	CheckFailures int     `json:"check_failures"`
	Errors        int     `json:"errors"`
	Seed          uint64  `json:"seed"`
	DurationS     float64 `json:"duration_s"`
	FirstProblem  string  `json:"first_problem,omitempty"`
}

func (c *CrashConfig) defaults() {
	if c.Cycles <= 0 {
		c.Cycles = 10
	}
	if c.Customers <= 0 {
		c.Customers = 4
	}
	if c.Agents <= 0 {
		c.Agents = 2
	}
	if c.Window <= 0 {
		c.Window = 4
	}
	if c.MaxUptime <= 0 {
		c.MaxUptime = 800 * time.Millisecond
	}
	if c.Seed == 0 {
		c.Seed = rand.Uint64()
	}
}

// crashSender is one participant sending numbered messages into one
// session, across server lives. Message n has client_msg_id "<key>-<n>".
// After a restart it resends its unacknowledged messages in order, then
// goes on; the server deduplicates those it had stored.
type crashSender struct {
	key     string
	session string
	agent   bool
	next    int          // number of the next new message
	pending []int        // sent, unacknowledged, ascending
	acked   map[int]bool // ever acknowledged
	stopped bool         // got an error this life: sends no more until the next
}

// crashRun is the scenario's state across cycles.
type crashRun struct {
	cfg      CrashConfig
	res      *CrashResult
	mu       sync.Mutex // guards senders and res while connections run
	senders  map[string]*crashSender
	sessions map[string]string // customer index -> session id
	agents   []agentAcct
	lost     map[string]bool
	dups     map[string]bool
	ooo      map[string]bool
}

// Crash runs customers and agents that send acknowledged messages while
// it kills the server with SIGKILL at random moments and restarts it.
// After each kill it checks the database: every acknowledged message is
// stored exactly once, each sender's messages are stored in the order
// sent, and storage's consistency check is clean.
func Crash(ctx context.Context, o Options, cfg CrashConfig) (*CrashResult, error) {
	cfg.defaults()
	if o.URL != "" {
		return nil, errors.New("the crash scenario kills its own server; drop --url")
	}
	st := &status{w: o.Status}
	defer st.done()
	dir, _, _, err := newDataDir()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &crashRun{
		cfg: cfg, res: &CrashResult{Scenario: "crash", Seed: cfg.Seed},
		senders: map[string]*crashSender{}, sessions: map[string]string{},
		lost: map[string]bool{}, dups: map[string]bool{}, ooo: map[string]bool{},
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	start := time.Now()
	for cycle := 1; cycle <= cfg.Cycles; cycle++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		srv, err := startServer(ctx, &o, dir)
		if err != nil {
			return nil, fmt.Errorf("cycle %d: %w", cycle, err)
		}
		if err := srv.waitReady(ctx, time.Minute); err != nil {
			srv.stop()
			return nil, fmt.Errorf("cycle %d: %w", cycle, err)
		}
		if r.agents == nil {
			if r.agents, err = srv.addAgents(ctx, "crash", cfg.Agents, 2); err != nil {
				srv.stop()
				return nil, err
			}
		}
		uptime := time.Duration(rng.Int64N(int64(cfg.MaxUptime)))
		r.live(ctx, srv, uptime)
		if err := r.verify(filepath.Join(dir, "parley.db")); err != nil {
			return nil, fmt.Errorf("cycle %d: %w", cycle, err)
		}
		r.res.Cycles = cycle
		st.printf("crash: cycle %d/%d, %d acked, %d lost, %d duplicated, %d check failures",
			cycle, cfg.Cycles, r.res.Acked, r.res.Lost, r.res.Duplicated, r.res.CheckFailures)
	}
	r.res.DurationS = round3(time.Since(start).Seconds())
	return r.res, nil
}

// problem records the first problem seen.
func (r *crashRun) problem(format string, args ...any) {
	if r.res.FirstProblem == "" {
		r.res.FirstProblem = fmt.Sprintf(format, args...)
	}
}

// live runs one server life: every customer and agent connects and sends
// until the server is killed uptime after it was ready.
func (r *crashRun) live(ctx context.Context, srv *server, uptime time.Duration) {
	var wg sync.WaitGroup
	conns := make(chan *wsclient.Conn, r.cfg.Customers+len(r.agents))
	for i := range r.cfg.Customers {
		wg.Go(func() { r.customer(ctx, srv, i, conns) })
	}
	for i, a := range r.agents {
		wg.Go(func() { r.agent(ctx, srv, i, a, conns) })
	}
	select {
	case <-time.After(uptime):
	case <-ctx.Done():
	}
	_ = srv.cmd.Process.Kill()
	<-srv.exited
	// The readers end when their sockets fail; a dial still under way
	// fails as the server is gone.
	wg.Wait()
	close(conns)
	for c := range conns {
		_ = c.Close()
	}
}

// hello dials path and says hello; it returns the connection and the raw
// welcome.
func hello(ctx context.Context, srv *server, path, token string, conns chan<- *wsclient.Conn) (*wsclient.Conn, []byte, error) {
	c, err := wsclient.Dial(ctx, srv.ws+path, wsclient.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	conns <- c
	if err := c.Send(map[string]any{"type": "hello", "token": token}); err != nil {
		return nil, nil, err
	}
	for {
		b, err := c.Read()
		if err != nil {
			return nil, nil, err
		}
		var f frame
		if json.Unmarshal(b, &f) == nil && f.Type == "welcome" {
			return c, b, nil
		}
	}
}

func (r *crashRun) customer(ctx context.Context, srv *server, i int, conns chan<- *wsclient.Conn) {
	tok, err := auth.SignCustomer(srv.custKey, parley.Customer{ID: fmt.Sprintf("crash-c%d", i), Name: "crash"}, 2*time.Hour, time.Now())
	if err != nil {
		return
	}
	c, b, err := hello(ctx, srv, "/v1/customer/ws", tok, conns)
	if err != nil {
		return
	}
	var w struct {
		OpenSession *struct {
			ID string `json:"id"`
		} `json:"open_session"`
	}
	_ = json.Unmarshal(b, &w)
	key := "c" + strconv.Itoa(i)
	if w.OpenSession == nil {
		if err := c.Send(map[string]any{"type": "start", "req": "start"}); err != nil {
			return
		}
		for {
			f, err := readFrame(c)
			if err != nil {
				return
			}
			if f.Re == "start" && f.Session != nil {
				w.OpenSession = &struct {
					ID string `json:"id"`
				}{f.Session.ID}
				break
			}
		}
	}
	r.mu.Lock()
	if old, ok := r.sessions[key]; ok && old != w.OpenSession.ID {
		r.problem("customer %s has session %s, not %s", key, w.OpenSession.ID, old)
	}
	r.sessions[key] = w.OpenSession.ID
	s := r.sender(key, w.OpenSession.ID, false)
	r.mu.Unlock()
	r.converse(c, "", []*crashSender{s})
}

func (r *crashRun) agent(ctx context.Context, srv *server, i int, a agentAcct, conns chan<- *wsclient.Conn) {
	tok, _, err := auth.SignAgent(srv.agentKey, a.id, 2*time.Hour, time.Now())
	if err != nil {
		return
	}
	c, b, err := hello(ctx, srv, "/v1/agent/ws", tok, conns)
	if err != nil {
		return
	}
	var w struct {
		Sessions []struct {
			ID string `json:"id"`
		} `json:"sessions"`
	}
	_ = json.Unmarshal(b, &w)
	var mine []*crashSender
	r.mu.Lock()
	for _, s := range w.Sessions {
		mine = append(mine, r.sender(fmt.Sprintf("a%d.%s", i, s.ID), s.ID, true))
	}
	r.mu.Unlock()
	if c.Send(map[string]any{"type": "status", "status": "available", "req": "st"}) != nil {
		return
	}
	r.converse(c, fmt.Sprintf("a%d", i), mine)
}

// sender returns the sender of key, creating it. r.mu must be held.
func (r *crashRun) sender(key, session string, agent bool) *crashSender {
	s := r.senders[key]
	if s == nil {
		s = &crashSender{key: key, session: session, agent: agent, next: 1, acked: map[int]bool{}}
		r.senders[key] = s
	}
	s.stopped = false
	return s
}

// converse resends each sender's unacknowledged messages, then keeps each
// sender's window full as acknowledgements arrive, until the connection
// fails. An agent (prefix "a<i>") picks up a sender for each session
// assigned to it meanwhile.
func (r *crashRun) converse(c *wsclient.Conn, prefix string, senders []*crashSender) {
	byKey := map[string]*crashSender{}
	r.mu.Lock()
	for _, s := range senders {
		byKey[s.key] = s
		if !r.fill(c, s, true) {
			r.mu.Unlock()
			return
		}
	}
	r.mu.Unlock()
	for {
		f, err := readFrame(c)
		if err != nil {
			return
		}
		r.mu.Lock()
		ok := true
		switch f.Type {
		case "assigned":
			if prefix != "" && f.Session != nil {
				s := r.sender(prefix+"."+f.Session.ID, f.Session.ID, true)
				byKey[s.key] = s
				ok = r.fill(c, s, true)
			}
		case "sent":
			key, n, good := splitCmid(f.ClientMsgID)
			s := byKey[key]
			if !good || s == nil {
				r.res.Errors++
				r.problem("acknowledgement of unknown message %q", f.ClientMsgID)
				break
			}
			if !s.acked[n] {
				s.acked[n] = true
				r.res.Acked++
			}
			for i, p := range s.pending {
				if p == n {
					s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
					break
				}
			}
			ok = r.fill(c, s, false)
		case "error":
			r.res.Errors++
			r.problem("error frame: %s: %s", f.Code, f.Message)
			if key, _, good := splitCmid(f.Re); good && byKey[key] != nil {
				byKey[key].stopped = true
			}
		}
		r.mu.Unlock()
		if !ok {
			return
		}
	}
}

// fill sends s's unacknowledged messages (when resend is set) and new ones
// until s has Window unacknowledged. It reports false once the connection
// fails. r.mu is held.
func (r *crashRun) fill(c *wsclient.Conn, s *crashSender, resend bool) bool {
	if s.stopped {
		return true
	}
	send := func(n int) bool {
		cmid := fmt.Sprintf("%s-%d", s.key, n)
		f := map[string]any{"type": "send", "text": cmid, "client_msg_id": cmid, "req": cmid}
		if s.agent {
			f["session_id"] = s.session
		}
		return c.Send(f) == nil
	}
	if resend {
		for _, n := range s.pending {
			if !send(n) {
				return false
			}
		}
	}
	for len(s.pending) < r.cfg.Window {
		n := s.next
		// Recorded before the write: once written it may be stored.
		s.next++
		s.pending = append(s.pending, n)
		r.res.Sent++
		if !send(n) {
			return false
		}
	}
	return true
}

func readFrame(c *wsclient.Conn) (*frame, error) {
	b, err := c.Read()
	if err != nil {
		return nil, err
	}
	f := new(frame)
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("bad frame %q: %w", b, err)
	}
	return f, nil
}

// splitCmid splits "<key>-<n>".
func splitCmid(cmid string) (key string, n int, ok bool) {
	i := strings.LastIndexByte(cmid, '-')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(cmid[i+1:])
	return cmid[:i], n, err == nil
}

// verify opens the dead server's database read-only, runs the consistency
// check and compares every session's messages with what was sent and
// acknowledged.
func (r *crashRun) verify(path string) error {
	db, err := storage.OpenReadOnly(path, storage.Options{})
	if err != nil {
		r.res.CheckFailures++
		r.problem("open after kill: %v", err)
		return nil
	}
	defer db.Close()
	rep, err := db.Check()
	if err != nil || len(rep.Problems) > 0 {
		r.res.CheckFailures++
		r.problem("check: %v %v", err, rep.Problems)
	}
	stored := map[string][]int{} // sender key -> message numbers in seq order
	err = db.View(func(tx *storage.Tx) error {
		seen := map[string]bool{}
		for _, s := range r.senders {
			if seen[s.session] {
				continue
			}
			seen[s.session] = true
			after := uint64(0)
			for {
				q := storage.EventQuery{AfterSeq: after, Limit: parley.MaxHistoryLimit}
				if after == 0 {
					q.AfterSeq = 1 // seq 1 is the queued event
				}
				events, more, err := tx.Events(s.session, q)
				if err != nil {
					return err
				}
				for _, ev := range events {
					if ev.Kind != parley.KindMessage {
						continue
					}
					key, n, ok := splitCmid(ev.ClientMsgID)
					if !ok {
						r.problem("stored message with client_msg_id %q", ev.ClientMsgID)
						continue
					}
					stored[key] = append(stored[key], n)
				}
				if !more || len(events) == 0 {
					break
				}
				after = events[len(events)-1].Seq
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	for key, s := range r.senders {
		got := stored[key]
		in := map[int]int{}
		for i, n := range got {
			in[n]++
			if in[n] == 2 && !r.dups[fmt.Sprint(key, "-", n)] {
				r.dups[fmt.Sprint(key, "-", n)] = true
				r.res.Duplicated++
				r.problem("%s-%d stored twice", key, n)
			}
			if n != i+1 && !r.ooo[key] {
				r.ooo[key] = true
				r.res.OutOfOrder++
				r.problem("%s: message %d stored in place %d", key, n, i+1)
			}
		}
		for n := range s.acked {
			id := fmt.Sprint(key, "-", n)
			if in[n] == 0 && !r.lost[id] {
				r.lost[id] = true
				r.res.Lost++
				r.problem("acknowledged %s is not stored", id)
			}
		}
	}
	return nil
}
