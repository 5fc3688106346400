package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ThroughputConfig configures the throughput scenario.
type ThroughputConfig struct {
	// Customers is the number of customers, each in one session.
	Customers int
	// Agents is the number of agents (capacity 2 each); default
	// ceil(Customers/2), so every customer gets an agent.
	Agents int
	// Window is how many messages each sender (each side of each
	// session) may have sent but not yet had acknowledged.
	Window int
	// Duration is how long messages are sent.
	Duration time.Duration
	// Rate, if positive, fixes the offered load in messages per second
	// over all senders instead of sending as fast as acknowledgements
	// allow; latency is measured from each message's scheduled time.
	Rate float64
	// Size is the length of each message's text in bytes.
	Size int
	// NoEcho skips the echo baseline.
	NoEcho bool
}

// ThroughputResult is what the throughput scenario reports.
type ThroughputResult struct {
	Scenario    string  `json:"scenario"`
	Customers   int     `json:"customers"`
	Agents      int     `json:"agents"`
	Window      int     `json:"window"`
	Size        int     `json:"size"`
	DurationS   float64 `json:"duration_s"`
	OfferedRate float64 `json:"offered_rate,omitempty"`
	Sent        int64   `json:"sent"`
	Acked       int64   `json:"acked"`
	Delivered   int64   `json:"delivered"`
	MsgsPerS    float64 `json:"msgs_per_s"`
	EchoRTPerS  float64 `json:"echo_rt_per_s"`
	RatioVsEcho float64 `json:"ratio_vs_echo"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	P999Ms      float64 `json:"p999_ms"`
	MaxMs       float64 `json:"max_ms"`
	EchoP50Ms   float64 `json:"echo_p50_ms"`
	EchoP99Ms   float64 `json:"echo_p99_ms"`
	// Lost counts acknowledged messages missing from the history or
	// never delivered to the other party; Duplicated counts messages
	// stored or delivered more than once.
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	// Errors counts error frames the server sent.
	Errors int64 `json:"errors"`
	// Late counts sends that went out after their scheduled time
	// because the window was full (rate mode).
	Late          int64   `json:"late,omitempty"`
	ServerRSSMiB  float64 `json:"server_rss_mib,omitempty"`
	FirstErrorMsg string  `json:"first_error,omitempty"`
}

func (c *ThroughputConfig) defaults() {
	if c.Customers <= 0 {
		c.Customers = 100
	}
	if c.Agents <= 0 {
		c.Agents = (c.Customers + 1) / 2
	}
	if c.Window <= 0 {
		c.Window = 4
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Size <= 0 {
		c.Size = 64
	}
}

// msg is one message's fate.
type msg struct {
	sentAt   int64 // unix ns (scheduled time in rate mode)
	acked    bool
	received int
}

// tpSession is one session with its two senders.
type tpSession struct {
	id       string
	custID   string
	customer *tpConn
	agent    *tpConn
	mu       sync.Mutex
	msgs     map[string]*msg // by client_msg_id
	senders  [2]*sender      // customer, agent
}

// sender is one side of one session.
type sender struct {
	sess  *tpSession
	conn  *tpConn
	side  int // 0 customer, 1 agent
	slots chan struct{}
	n     int
}

// tpConn is a connection with its reader's state.
type tpConn struct {
	*conn
	agent    bool
	lat      []float64 // receipt latencies in ms, owned by the reader until done
	done     chan struct{}
	replies  sync.Map // req -> chan *frame
	assigned chan string
}

type throughput struct {
	cfg      ThroughputConfig
	srv      *server
	sessions map[string]*tpSession
	start    atomic.Int64 // unix ns of the measured window
	end      atomic.Int64
	sent     atomic.Int64
	acked    atomic.Int64
	inWindow atomic.Int64 // receipts within the window
	errs     atomic.Int64
	late     atomic.Int64
	dupLive  atomic.Int64
	complete atomic.Int64 // messages both acknowledged and received
	refused  atomic.Int64 // sends answered with an error
	firstErr atomic.Value
	pad      string
}

// Throughput runs the throughput scenario.
func Throughput(ctx context.Context, o Options, cfg ThroughputConfig) (*ThroughputResult, error) {
	cfg.defaults()
	st := &status{w: o.Status}
	defer st.done()
	res := &ThroughputResult{Scenario: "throughput", Customers: cfg.Customers, Agents: cfg.Agents,
		Window: cfg.Window, Size: cfg.Size, DurationS: cfg.Duration.Seconds(), OfferedRate: cfg.Rate}

	st.printf("throughput: starting server")
	srv, err := startServer(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	t := &throughput{cfg: cfg, srv: srv, sessions: make(map[string]*tpSession)}
	t.pad = strings.Repeat("x", cfg.Size)
	conns, err := t.setup(ctx, st)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if err != nil {
		return nil, err
	}
	t.run(ctx, st)
	st.printf("throughput: verifying history")
	lost, dup, err := t.verify(ctx)
	if err != nil {
		return nil, err
	}
	res.ServerRSSMiB = float64(srv.rss()) / (1 << 20)
	for _, c := range conns {
		c.close()
	}
	var lat []float64
	for _, c := range conns {
		<-c.done
		lat = append(lat, c.lat...)
	}
	conns = nil
	res.Sent, res.Acked = t.sent.Load(), t.acked.Load()
	res.Delivered = t.inWindow.Load()
	res.MsgsPerS = float64(res.Delivered) / cfg.Duration.Seconds()
	ps := percentiles(lat, 0.5, 0.99, 0.999, 1)
	res.P50Ms, res.P99Ms, res.P999Ms, res.MaxMs = ps[0], ps[1], ps[2], ps[3]
	res.Lost, res.Duplicated = lost, dup+t.dupLive.Load()
	res.Errors, res.Late = t.errs.Load(), t.late.Load()
	if e, ok := t.firstErr.Load().(string); ok {
		res.FirstErrorMsg = e
	}
	srv.stop()

	if !cfg.NoEcho {
		st.printf("throughput: echo baseline")
		echo, err := Echo(ctx, EchoConfig{Conns: cfg.Customers + cfg.Agents, Window: cfg.Window,
			Size: t.frameSize(), Duration: cfg.Duration, Rate: cfg.Rate}, st)
		if err != nil {
			return nil, fmt.Errorf("echo baseline: %w", err)
		}
		res.EchoRTPerS, res.EchoP50Ms, res.EchoP99Ms = echo.RTPerS, echo.P50Ms, echo.P99Ms
		if echo.RTPerS > 0 {
			res.RatioVsEcho = res.MsgsPerS / echo.RTPerS
		}
	}
	return res, nil
}

// frameSize is the size of one send frame, for the echo baseline.
func (t *throughput) frameSize() int {
	b, _ := json.Marshal(map[string]any{"type": "send", "req": "1-123456", "client_msg_id": "1-123456",
		"session_id": "01JD5ZQ4X8AAAAAAAAAAAAAAAA", "text": t.text("1-123456", time.Now().UnixNano())})
	return len(b)
}

func (t *throughput) text(cmid string, at int64) string {
	return cmid + " " + strconv.FormatInt(at, 10) + " " + t.pad
}

// setup creates the agents and customers and waits until every customer
// has an agent.
func (t *throughput) setup(ctx context.Context, st *status) ([]*tpConn, error) {
	cfg := t.cfg
	st.printf("throughput: adding %d agents", cfg.Agents)
	accts, err := t.srv.addAgents(ctx, "tp", cfg.Agents, 2)
	if err != nil {
		return nil, err
	}
	agents := make([]*tpConn, cfg.Agents)
	customers := make([]*tpConn, cfg.Customers)
	var all []*tpConn
	var mu sync.Mutex
	keep := func(c *tpConn) {
		mu.Lock()
		all = append(all, c)
		mu.Unlock()
	}
	st.printf("throughput: connecting %d agents", cfg.Agents)
	err = parallel(ctx, cfg.Agents, 16, func(i int) error {
		c, err := t.srv.dialHello(ctx, i, "/v1/agent/ws", accts[i].token)
		if err != nil {
			return fmt.Errorf("agent %d: %w", i, err)
		}
		tc := &tpConn{conn: c, agent: true, assigned: make(chan string, 2), done: make(chan struct{})}
		keep(tc)
		if err := c.send(map[string]any{"type": "status", "status": "available", "req": "s"}); err != nil {
			return err
		}
		if _, err := c.expect(30*time.Second, "agent_status"); err != nil {
			return err
		}
		agents[i] = tc
		go t.reader(tc)
		return nil
	})
	if err != nil {
		return all, err
	}
	st.printf("throughput: connecting %d customers", cfg.Customers)
	byID := make([]*tpSession, cfg.Customers)
	run := randomHex(4)
	err = parallel(ctx, cfg.Customers, 16, func(i int) error {
		tok, err := t.srv.customerToken(fmt.Sprintf("tp-%s-%d", run, i))
		if err != nil {
			return err
		}
		c, err := t.srv.dialHello(ctx, cfg.Agents+i, "/v1/customer/ws", tok)
		if err != nil {
			return fmt.Errorf("customer %d: %w", i, err)
		}
		tc := &tpConn{conn: c, done: make(chan struct{})}
		keep(tc)
		if err := c.send(map[string]any{"type": "start", "req": "start"}); err != nil {
			return err
		}
		f, err := c.expect(30*time.Second, "session")
		if err != nil {
			return err
		}
		customers[i] = tc
		byID[i] = &tpSession{id: f.Session.ID, custID: fmt.Sprintf("tp-%s-%d", run, i), customer: tc, msgs: make(map[string]*msg)}
		return nil
	})
	if err != nil {
		return all, err
	}
	for _, s := range byID {
		t.sessions[s.id] = s
	}
	// Every session must reach an agent before the clock starts; the
	// customers' readers start only now, so that no event is missed.
	for _, s := range byID {
		go t.reader(s.customer)
	}
	st.printf("throughput: waiting for %d assignments", cfg.Customers)
	timeout := time.After(60 * time.Second)
	for n := 0; n < cfg.Customers; {
		for _, a := range agents {
		drain:
			for {
				select {
				case id := <-a.assigned:
					s := t.sessions[id]
					if s == nil {
						return all, fmt.Errorf("assigned unknown session %s", id)
					}
					s.agent = a
					n++
				default:
					break drain
				}
			}
		}
		if n >= cfg.Customers {
			break
		}
		select {
		case <-timeout:
			return all, fmt.Errorf("only %d of %d sessions were assigned within 60s", n, cfg.Customers)
		case <-ctx.Done():
			return all, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	for _, s := range t.sessions {
		for side, c := range []*tpConn{s.customer, s.agent} {
			sd := &sender{sess: s, conn: c, side: side, slots: make(chan struct{}, cfg.Window)}
			for range cfg.Window {
				sd.slots <- struct{}{}
			}
			s.senders[side] = sd
		}
	}
	return all, nil
}

// reader handles every frame of one connection.
func (t *throughput) reader(c *tpConn) {
	defer close(c.done)
	for {
		f, err := c.read()
		if err != nil {
			return
		}
		switch f.Type {
		case "assigned":
			if c.assigned != nil && f.Session != nil {
				c.assigned <- f.Session.ID
			}
		case "sent":
			t.ack(c, f)
		case "event":
			if f.Event != nil && f.Event.Kind == "message" {
				t.receipt(c, f)
			}
		case "error":
			t.errs.Add(1)
			t.firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %s (re %q)", f.Code, f.Message, f.Re))
			if f.Re != "" {
				if ch, ok := c.replies.LoadAndDelete(f.Re); ok {
					ch.(chan *frame) <- f
				} else {
					t.ackFailed(c, f)
				}
			}
		default:
			if f.Re != "" {
				if ch, ok := c.replies.LoadAndDelete(f.Re); ok {
					ch.(chan *frame) <- f
				}
			}
		}
	}
}

func (t *throughput) senderOf(c *tpConn, sessionID string) *sender {
	s := t.sessions[sessionID]
	if s == nil {
		return nil
	}
	if c.agent {
		return s.senders[1]
	}
	return s.senders[0]
}

func (t *throughput) ack(c *tpConn, f *frame) {
	sd := t.senderOf(c, f.SessionID)
	if sd == nil {
		return
	}
	s := sd.sess
	s.mu.Lock()
	m := s.msgs[f.ClientMsgID]
	if m != nil && !m.acked {
		m.acked = true
		t.acked.Add(1)
		if m.received > 0 {
			t.complete.Add(1)
		}
	}
	s.mu.Unlock()
	sd.slots <- struct{}{}
}

// ackFailed frees the window slot of a send the server refused.
func (t *throughput) ackFailed(c *tpConn, f *frame) {
	sessID, _, ok := strings.Cut(f.Re, "/")
	if !ok {
		return
	}
	if sd := t.senderOf(c, sessID); sd != nil {
		t.refused.Add(1)
		sd.slots <- struct{}{}
	}
}

func (t *throughput) receipt(c *tpConn, f *frame) {
	ev := f.Event
	fromAgent := ev.From.Role == "agent"
	if fromAgent == c.agent {
		return // the sender's own copy
	}
	s := t.sessions[f.SessionID]
	if s == nil {
		return
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	m := s.msgs[ev.ClientMsgID]
	if m == nil {
		s.mu.Unlock()
		return
	}
	m.received++
	first := m.received == 1
	if first && m.acked {
		t.complete.Add(1)
	}
	sentAt := m.sentAt
	s.mu.Unlock()
	if !first {
		t.dupLive.Add(1)
		return
	}
	if sentAt >= t.start.Load() && now <= t.end.Load() {
		t.inWindow.Add(1)
		c.lat = append(c.lat, float64(now-sentAt)/1e6)
	}
}

// run sends for the configured duration, then waits for what is in flight.
func (t *throughput) run(ctx context.Context, st *status) {
	cfg := t.cfg
	var senders []*sender
	for _, s := range t.sessions {
		senders = append(senders, s.senders[0], s.senders[1])
	}
	start := time.Now().Add(20 * time.Millisecond)
	t.start.Store(start.UnixNano())
	t.end.Store(start.Add(cfg.Duration).UnixNano())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, sd := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Rate > 0 {
				interval := time.Duration(float64(len(senders)) / cfg.Rate * float64(time.Second))
				offset := time.Duration(int64(interval) * int64(i) / int64(len(senders)))
				t.paced(sd, start.Add(offset), interval, stop)
			} else {
				time.Sleep(time.Until(start))
				t.closedLoop(sd, stop)
			}
		}()
	}
	progressStop := make(chan struct{})
	go ticker(500*time.Millisecond, progressStop, func() {
		el := time.Since(start).Seconds()
		if el <= 0 {
			return
		}
		st.printf("throughput: %4.1fs/%v  %7.0f msg/s delivered  sent %d  acked %d  errors %d",
			el, cfg.Duration, float64(t.inWindow.Load())/el, t.sent.Load(), t.acked.Load(), t.errs.Load())
	})
	select {
	case <-time.After(time.Until(start.Add(cfg.Duration))):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	close(progressStop)
	// Wait for every message in flight to be acknowledged and received.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if t.pending() == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pending counts messages not yet both acknowledged and received.
func (t *throughput) pending() int64 {
	return t.sent.Load() - t.complete.Load() - t.refused.Load()
}

func (t *throughput) closedLoop(sd *sender, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-sd.slots:
		}
		if !t.sendOne(sd, time.Now().UnixNano()) {
			return
		}
	}
}

func (t *throughput) paced(sd *sender, next time.Time, interval time.Duration, stop <-chan struct{}) {
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		select {
		case <-sd.slots:
		default:
			t.late.Add(1)
			select {
			case <-sd.slots:
			case <-stop:
				return
			}
		}
		if !t.sendOne(sd, next.UnixNano()) {
			return
		}
		next = next.Add(interval)
		timer.Reset(time.Until(next))
	}
}

// sendOne sends the sender's next message.
func (t *throughput) sendOne(sd *sender, at int64) bool {
	sd.n++
	cmid := strconv.Itoa(sd.side) + "-" + strconv.Itoa(sd.n)
	s := sd.sess
	s.mu.Lock()
	s.msgs[cmid] = &msg{sentAt: at}
	s.mu.Unlock()
	// Built by hand: every part is plain ASCII without quotes, and the
	// generator shares the machine with the server, so it must be cheap.
	b := make([]byte, 0, 128+len(t.pad))
	b = append(b, `{"type":"send","req":"`...)
	b = append(b, s.id...)
	b = append(b, '/')
	b = append(b, cmid...)
	b = append(b, `","client_msg_id":"`...)
	b = append(b, cmid...)
	if sd.side == 1 {
		b = append(b, `","session_id":"`...)
		b = append(b, s.id...)
	}
	b = append(b, `","text":"`...)
	b = append(b, t.text(cmid, at)...)
	b = append(b, `"}`...)
	t.sent.Add(1)
	return sd.conn.write(b) == nil
}

// verify reads every session's transcript and compares it with what was
// acknowledged: each acknowledged message must be stored exactly once and
// have reached the other party exactly once.
func (t *throughput) verify(ctx context.Context) (lost, dup int64, err error) {
	ids := make([]string, 0, len(t.sessions))
	for id := range t.sessions {
		ids = append(ids, id)
	}
	var nLost, nDup atomic.Int64
	client := &http.Client{Timeout: 60 * time.Second}
	err = parallel(ctx, len(ids), 8, func(i int) error {
		s := t.sessions[ids[i]]
		// Ask as the session's customer, with a fresh token.
		tok, err := t.srv.customerToken(s.custID)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			t.srv.base+"/v1/customer/sessions/"+s.id+"/transcript?format=json", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("transcript of %s: HTTP %d", s.id, resp.StatusCode)
		}
		var tr struct {
			Events []wireEvent `json:"events"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			return err
		}
		seen := make(map[string]int)
		for i, ev := range tr.Events {
			if ev.Seq != uint64(i+1) {
				return fmt.Errorf("session %s: event %d has seq %d", s.id, i+1, ev.Seq)
			}
			if ev.Kind == "message" {
				seen[ev.ClientMsgID]++
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for cmid, m := range s.msgs {
			switch n := seen[cmid]; {
			case m.acked && (n == 0 || m.received == 0):
				nLost.Add(1)
			case n > 1:
				nDup.Add(int64(n - 1))
			}
		}
		return nil
	})
	return nLost.Load(), nDup.Load(), err
}
