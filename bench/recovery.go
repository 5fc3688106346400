package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// RecoveryConfig configures the recovery scenario.
type RecoveryConfig struct {
	// Events is the number of stored events; default 1,000,000.
	Events int
	// Sessions is the number of open sessions; default 10,000.
	Sessions int
	// Runs is how many times the server is started; the median counts.
	// Default 3.
	Runs int
}

// RecoveryResult is what the recovery scenario reports.
type RecoveryResult struct {
	Scenario string    `json:"scenario"`
	Events   int       `json:"events"`
	Sessions int       `json:"sessions"`
	Ended    int       `json:"ended_sessions"`
	DBMiB    float64   `json:"db_mib"`
	BuildS   float64   `json:"build_s"`
	ReadyMs  float64   `json:"ready_ms"`
	Runs     []float64 `json:"runs_ms"`
}

func (c *RecoveryConfig) defaults() {
	if c.Events <= 0 {
		c.Events = 1_000_000
	}
	if c.Sessions <= 0 {
		c.Sessions = 10_000
	}
	if c.Runs <= 0 {
		c.Runs = 3
	}
}

// Per open session, this many events; the rest of the events belong to
// ended sessions of endedEvents each, as in a server that has run a while.
const (
	openEvents  = 20
	endedEvents = 100
	buildBatch  = 20_000 // events per build transaction
)

// Recovery builds a database with cfg.Events events and cfg.Sessions open
// sessions (half queued, half with an agent), then times a server start
// until /readyz answers 200.
func Recovery(ctx context.Context, o Options, cfg RecoveryConfig) (*RecoveryResult, error) {
	cfg.defaults()
	if o.URL != "" {
		return nil, fmt.Errorf("recovery starts its own server; it cannot use --url")
	}
	st := &status{w: o.Status}
	defer st.done()
	res := &RecoveryResult{Scenario: "recovery", Events: cfg.Events, Sessions: cfg.Sessions}
	dir, err := os.MkdirTemp("", "parley-bench-recovery-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	ended, err := buildRecoveryDB(ctx, filepath.Join(dir, "parley.db"), cfg, st)
	if err != nil {
		return nil, fmt.Errorf("build database: %w", err)
	}
	res.Ended = ended
	res.BuildS = round3(time.Since(start).Seconds())
	if fi, err := os.Stat(filepath.Join(dir, "parley.db")); err == nil {
		res.DBMiB = round3(float64(fi.Size()) / (1 << 20))
	}
	for i := range cfg.Runs {
		st.printf("recovery: start %d/%d", i+1, cfg.Runs)
		srv, err := startServer(ctx, &o, dir)
		if err != nil {
			return nil, err
		}
		err = srv.waitReady(ctx, 5*time.Minute)
		ms := float64(time.Since(srv.started).Microseconds()) / 1000
		srv.stop()
		if err != nil {
			return nil, err
		}
		res.Runs = append(res.Runs, round3(ms))
	}
	sorted := slices.Clone(res.Runs)
	slices.Sort(sorted)
	res.ReadyMs = sorted[len(sorted)/2]
	return res, nil
}

// buildRecoveryDB writes the fixture in large transactions and returns
// the number of ended sessions.
func buildRecoveryDB(ctx context.Context, path string, cfg RecoveryConfig, st *status) (int, error) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	now := time.Now().Add(-time.Hour)
	// Agents for the active half: capacity is not enforced on recovery.
	nAgents := max(1, cfg.Sessions/2/50)
	agents := make([]*parley.Agent, nAgents)
	err = db.Update(ctx, func(tx *storage.Tx) error {
		for i := range agents {
			agents[i] = &parley.Agent{
				ID: parley.NewID(now), Name: fmt.Sprintf("Agent %d", i), Email: fmt.Sprintf("agent%d@bench.invalid", i),
				Capacity: 50, Status: parley.StatusOffline, PasswordHash: []byte("x"), CreatedAt: parley.TimeOf(now),
			}
			if err := tx.PutAgent(agents[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	perOpen := min(openEvents, max(1, cfg.Events/cfg.Sessions))
	openTotal := perOpen * cfg.Sessions
	ended := 0
	if rest := cfg.Events - openTotal; rest > 0 {
		ended = (rest + endedEvents - 1) / endedEvents
	}
	// A plan of sessions, each with its number of events, written in
	// batches of about buildBatch events.
	type plan struct {
		open   bool
		events int
	}
	var plans []plan
	for i := range ended {
		n := endedEvents
		if i == ended-1 {
			n = cfg.Events - openTotal - endedEvents*(ended-1)
		}
		plans = append(plans, plan{events: n})
	}
	for range cfg.Sessions {
		plans = append(plans, plan{open: true, events: perOpen})
	}
	text := "Thanks for waiting, let me check that order for you."
	written, opened := 0, 0
	for i := 0; i < len(plans); {
		j, n := i, 0
		for j < len(plans) && n < buildBatch {
			n += plans[j].events
			j++
		}
		batch := plans[i:j]
		base := i
		err := db.Update(ctx, func(tx *storage.Tx) error {
			nOpen := opened
			for k, p := range batch {
				at := parley.TimeOf(now)
				cust := parley.Customer{ID: fmt.Sprintf("rc-%d", base+k), Name: "Customer"}
				r := &parley.SessionRecord{
					ID: parley.NewID(now), State: parley.StateQueued, Customer: cust, Agents: []parley.AgentRef{},
					CreatedAt: at, QueuedAt: at,
				}
				ag := agents[(base+k)%len(agents)]
				if !p.open || nOpen%2 == 1 {
					r.State = parley.StateActive
					r.Agents = []parley.AgentRef{ag.Ref()}
					r.Participants = []string{ag.ID}
					r.AssignedAt = at
				}
				if !p.open {
					r.State, r.EndedAt, r.EndReason = parley.StateEnded, at, parley.EndCustomer
					r.Agents = []parley.AgentRef{}
				} else {
					nOpen++
				}
				if err := tx.PutSession(r); err != nil {
					return err
				}
				for e := range p.events {
					from := parley.Participant{Role: parley.RoleCustomer, ID: cust.ID, Name: cust.Name}
					if e%2 == 1 {
						from = ag.Participant()
					}
					ev := &parley.Event{Kind: parley.KindMessage, From: from, Text: text, ClientMsgID: fmt.Sprintf("m%d", e)}
					if e == 0 {
						ev = &parley.Event{Kind: parley.KindQueued, From: from}
					}
					if _, err := tx.Append(r.ID, ev); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		for _, p := range batch {
			written += p.events
			if p.open {
				opened++
			}
		}
		st.printf("recovery: building database, %d/%d events", written, cfg.Events)
		i = j
	}
	return ended, nil
}
