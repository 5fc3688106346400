package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// ewtSample is one wait estimate a customer was given, and when.
type ewtSample struct {
	at       time.Time
	ewt, pos int
}

// ewtCustomer is one customer of the wait-estimate phase.
type ewtCustomer struct {
	c        *conn
	mu       sync.Mutex
	samples  []ewtSample
	started  time.Time
	assigned time.Time
	done     chan struct{}
}

func (e *ewtCustomer) reader() {
	for {
		f, err := e.c.read()
		if err != nil {
			return
		}
		now := time.Now()
		e.mu.Lock()
		switch {
		case f.Type == "session" && f.Re == "start" && f.Session != nil:
			if f.Session.AgentsAvailable != nil && *f.Session.AgentsAvailable > 0 && f.Session.EWTSeconds != nil {
				e.samples = append(e.samples, ewtSample{now, *f.Session.EWTSeconds, f.Session.Position})
			}
		case f.Type == "queue" && f.EWTSeconds != nil:
			e.samples = append(e.samples, ewtSample{now, *f.EWTSeconds, f.Position})
		case f.Type == "event" && f.Event != nil && f.Event.Kind == "agent_joined" && e.assigned.IsZero():
			e.assigned = now
			close(e.done)
		}
		e.mu.Unlock()
	}
}

// routingEWT measures the wait estimates: agents with one slot each take
// customers who arrive a little faster than they are served, and end each
// chat after a random handle time (uniform between half and one and a
// half times cfg.EWTHandle). Every estimate a customer is given (the
// answer to start and each queue push) is compared with the wait that
// followed. It fills in the mean absolute error in seconds, the same for a
// fixed 30 s per position, the number of estimates and the mean wait.
func routingEWT(ctx context.Context, srv *server, cfg RoutingConfig, st *status, res *RoutingResult) error {
	st.printf("routing: wait estimates, %d agents, %d customers", cfg.EWTAgents, cfg.EWTCustomers)
	accts, err := srv.addAgents(ctx, "ewt", cfg.EWTAgents, 1)
	if err != nil {
		return err
	}
	base := cfg.Agents + cfg.Customers
	var closers []*conn
	defer func() {
		for _, c := range closers {
			_ = c.ws.Close()
		}
	}()
	handle := func() time.Duration {
		return time.Duration((0.5 + rand.Float64()) * float64(cfg.EWTHandle))
	}
	for i, a := range accts {
		c, err := srv.dialHello(ctx, base+i, "/v1/agent/ws", a.token)
		if err != nil {
			return fmt.Errorf("ewt agent %d: %w", i, err)
		}
		closers = append(closers, c)
		var wmu sync.Mutex
		go func() {
			for {
				f, err := c.read()
				if err != nil {
					return
				}
				if f.Type == "assigned" && f.Session != nil {
					id := f.Session.ID
					time.AfterFunc(handle(), func() {
						wmu.Lock()
						defer wmu.Unlock()
						_ = c.send(map[string]any{"type": "end", "session_id": id})
					})
				}
			}
		}()
		wmu.Lock()
		err = c.send(map[string]any{"type": "status", "status": "available"})
		wmu.Unlock()
		if err != nil {
			return err
		}
	}
	custs := make([]*ewtCustomer, cfg.EWTCustomers)
	run := randomHex(4)
	err = parallel(ctx, len(custs), 16, func(i int) error {
		tok, err := srv.customerToken(fmt.Sprintf("ewt-%s-%d", run, i))
		if err != nil {
			return err
		}
		c, err := srv.dialHello(ctx, base+cfg.EWTAgents+i, "/v1/customer/ws", tok)
		if err != nil {
			return fmt.Errorf("ewt customer %d: %w", i, err)
		}
		custs[i] = &ewtCustomer{c: c, done: make(chan struct{})}
		return nil
	})
	for _, e := range custs {
		if e != nil {
			closers = append(closers, e.c)
		}
	}
	if err != nil {
		return err
	}
	// Arrivals 25% faster than service, so a queue builds up.
	gap := float64(cfg.EWTHandle) / float64(cfg.EWTAgents) / 1.25
	for _, e := range custs {
		go e.reader()
		e.mu.Lock()
		e.started = time.Now()
		e.mu.Unlock()
		if err := e.c.send(map[string]any{"type": "start", "req": "start"}); err != nil {
			return err
		}
		select {
		case <-time.After(time.Duration(rand.ExpFloat64() * gap)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	deadline := time.After(2*time.Minute + time.Duration(cfg.EWTCustomers)*cfg.EWTHandle)
	var sum, fixed, waits float64
	n := 0
	for _, e := range custs {
		select {
		case <-e.done:
		case <-deadline:
			return fmt.Errorf("wait estimates: a customer got no agent in time")
		case <-ctx.Done():
			return ctx.Err()
		}
		e.mu.Lock()
		waits += e.assigned.Sub(e.started).Seconds()
		for _, s := range e.samples {
			wait := e.assigned.Sub(s.at).Seconds()
			sum += math.Abs(float64(s.ewt) - wait)
			fixed += math.Abs(float64(30*s.pos) - wait)
			n++
		}
		e.mu.Unlock()
	}
	res.EWTSamples, res.EWTMeanWaitS = n, round3(waits/float64(len(custs)))
	if n > 0 {
		res.EWTMAES, res.EWTFixedMAES = round3(sum/float64(n)), round3(fixed/float64(n))
	}
	return nil
}
