package httpapi

import (
	"math"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/parley"
)

// This file holds the limits that keep one client from hurting others:
// connections per address, per customer and per agent, the share of file
// descriptors customers may take, and the rates of commands and messages.
// docs/security.md ("Limits") lists them with their defaults and flags.

// Defaults of the limits in Config. A negative value in Config lifts a
// limit.
const (
	DefaultMaxConnsPerCustomer = 16
	DefaultMaxConnsPerAgent    = 16
	DefaultMaxConnsPerIP       = 256
	DefaultSendRate            = 10 // messages per second per customer
	DefaultSendBurst           = 20
	DefaultCommandRate         = 50 // frames per second per connection
	DefaultCommandBurst        = 100
	DefaultOutboundBytes       = 1 << 20
)

// DefaultMaxCustomerConns returns how many customer connections may be
// open at once: the process's file limit less a reserve (a quarter of it,
// between 64 and 4,096), so that agents, health checks and the admin
// socket still get descriptors when customers take their whole share.
func DefaultMaxCustomerConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 || lim.Cur > math.MaxInt32 {
		return 1 << 20
	}
	n := int(lim.Cur)
	reserve := min(max(n/4, 64), 4096)
	return max(n-reserve, 1)
}

// withLimitDefaults fills in the zero limits of cfg.
func withLimitDefaults(cfg Config) Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxConnsPerCustomer, DefaultMaxConnsPerCustomer)
	def(&cfg.MaxConnsPerAgent, DefaultMaxConnsPerAgent)
	def(&cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	if cfg.MaxCustomerConns == 0 {
		cfg.MaxCustomerConns = DefaultMaxCustomerConns()
	}
	if cfg.SendRate == 0 {
		cfg.SendRate = DefaultSendRate
	}
	def(&cfg.SendBurst, DefaultSendBurst)
	if cfg.CommandRate == 0 {
		cfg.CommandRate = DefaultCommandRate
	}
	def(&cfg.CommandBurst, DefaultCommandBurst)
	return cfg
}

// principal is what the limits keep per customer or agent while it has
// connections: how many, and the customer's message rate.
type principal struct {
	conns int
	sends *rate.Limiter // nil for agents, or without a send limit
}

// connLimits counts open connections by address, customer and agent.
type connLimits struct {
	mu            sync.Mutex
	ips           map[string]int
	customers     map[string]*principal
	agents        map[string]*principal
	customerConns int
}

// admitConn counts a connection from ip before its upgrade, or refuses it:
// too many from the address (rate_limited, HTTP 429) or customers' share
// of descriptors used up (unavailable, HTTP 503).
func (s *Server) admitConn(role, ip string) error {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if max := s.cfg.MaxConnsPerIP; max > 0 && l.ips[ip] >= max {
		s.hits.hit(hitConnsPerIP)
		return parley.Errorf(parley.ERateLimited, "Too many connections from your address (at most %d).", max)
	}
	if role == "customer" {
		if max := s.cfg.MaxCustomerConns; max > 0 && l.customerConns >= max {
			s.hits.hit(hitCustomerConns)
			return parley.Errorf(parley.EUnavailable, "The server has no room for more customer connections; try again later.")
		}
		l.customerConns++
	}
	if l.ips == nil {
		l.ips = make(map[string]int)
	}
	l.ips[ip]++
	return nil
}

// unadmit undoes admit.
func (s *Server) unadmit(role, ip string) {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	s.unadmitLocked(role, ip)
}

// unadmitLocked is unadmit with s.limits.mu held.
func (s *Server) unadmitLocked(role, ip string) {
	l := &s.limits
	if role == "customer" {
		l.customerConns--
	}
	if n := l.ips[ip] - 1; n > 0 {
		l.ips[ip] = n
	} else {
		delete(l.ips, ip)
	}
}

// claim counts c as one of the connections of the customer or agent id,
// or refuses it with rate_limited when it has too many.
func (s *Server) claim(c *wsConn, id string) error {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	m, max, kind := &l.customers, s.cfg.MaxConnsPerCustomer, hitConnsPerCustomer
	if c.role == "agent" {
		m, max, kind = &l.agents, s.cfg.MaxConnsPerAgent, hitConnsPerAgent
	}
	if c.released {
		// Closed while its hello was handled: it counts for nobody.
		return parley.Errorf(parley.EUnavailable, "The connection is closing.")
	}
	if *m == nil {
		*m = make(map[string]*principal)
	}
	p := (*m)[id]
	if p == nil {
		p = &principal{}
		if c.role == "customer" && s.cfg.SendRate > 0 {
			p.sends = rate.NewLimiter(rate.Limit(s.cfg.SendRate), s.cfg.SendBurst)
		}
	}
	if max > 0 && p.conns >= max {
		s.hits.hit(kind)
		return parley.Errorf(parley.ERateLimited, "Too many connections for one %s (at most %d); close another first.", c.role, max)
	}
	p.conns++
	(*m)[id] = p
	c.principal, c.principalID = p, id
	return nil
}

// release uncounts a connection that is closing, once: before its close
// frame is written, so that a client reconnecting the moment it reads the
// close finds its slot free.
func (s *Server) release(c *wsConn) {
	l := &s.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	s.unadmitLocked(c.role, c.ip)
	if c.principal == nil {
		return
	}
	m := l.customers
	if c.role == "agent" {
		m = l.agents
	}
	if c.principal.conns--; c.principal.conns <= 0 {
		delete(m, c.principalID)
	}
}

// newCommandLimiter returns a connection's limiter of commands, or nil.
func (s *Server) newCommandLimiter() *rate.Limiter {
	if s.cfg.CommandRate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(s.cfg.CommandRate), s.cfg.CommandBurst)
}

// throttle takes a token for frame in from the connection's command
// limiter and, for a customer's send, from the customer's message
// limiter. It returns 0 when the frame may go on, or how long to wait.
func (c *wsConn) throttle(in *parley.Inbound) time.Duration {
	now := c.srv.cfg.Now()
	if d := take(c.cmds, now); d > 0 {
		return d
	}
	if in.Type == parley.FrameSend && c.principal != nil {
		return take(c.principal.sends, now)
	}
	return 0
}

// limit applies the rate limits to a frame before it is handled, and
// reports whether to handle it. A frame over a limit holds the reader
// back until the limit allows again, so a flooding client costs the
// server no more than its limit however fast it writes. Typing and read
// signals are then handled (they have no answer to refuse them with, and
// chat coalesces them); any other frame is answered with rate_limited and
// retry_after_ms and dropped. It returns ok=false once the connection is
// closing.
func (c *wsConn) limit(in *parley.Inbound) (handle, ok bool) {
	for {
		wait := c.throttle(in)
		if wait <= 0 {
			return true, true
		}
		signal := in.Type == parley.FrameTyping || in.Type == parley.FrameRead
		if !signal {
			c.sendRateLimited(in, wait)
		}
		t := time.NewTimer(min(wait, c.srv.cfg.PingInterval))
		select {
		case <-t.C:
		case <-c.closed:
			t.Stop()
			return false, false
		}
		if !signal {
			return false, true
		}
	}
}

// take takes a token from l at now, or returns how long until one is
// free (taking nothing).
func take(l *rate.Limiter, now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	r := l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now)
	}
	return d
}

// sendRateLimited answers a frame refused by throttle.
func (c *wsConn) sendRateLimited(in *parley.Inbound, wait time.Duration) {
	ms := int((wait + time.Millisecond - 1) / time.Millisecond)
	what, kind := "commands", hitCommandRate
	if in.Type == parley.FrameSend {
		what, kind = "messages", hitSendRate
	}
	c.srv.hits.hit(kind)
	f := parley.NewErrorFrame(in.Req, parley.Errorf(parley.ERateLimited, "Too many %s; retry in %d ms.", what, ms))
	f.RetryAfterMS = int64(ms)
	c.Send(mustJSON(f))
}
