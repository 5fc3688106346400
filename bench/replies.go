package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// RepliesConfig configures the replies scenario. Zero fields take the
// sizes of issue 8 item 3.
type RepliesConfig struct {
	// Events is the number of events in the long session; default 30,000.
	Events int
	// Sessions is the number of sessions of the customer whose sessions
	// list is asked for; default 15,000.
	Sessions int
	// HistoryRequests is how many history requests the socket that never
	// reads sends; default 250.
	HistoryRequests int
	// Resumes is how many resume requests from after_seq 0 are pipelined;
	// default 20.
	Resumes int
	// Transcripts is how many JSON transcripts are fetched at once;
	// default 10.
	Transcripts int
	// SessionsRequests is how many sessions list requests are pipelined;
	// default 100.
	SessionsRequests int
	// Duration caps the attacks; default 20s. The run ends earlier once
	// every attack is done.
	Duration time.Duration
	// Stall is how long the readers that read late wait before reading;
	// default 3s.
	Stall time.Duration
}

// RepliesResult is what the replies scenario reports: the server's RSS
// before and during four reply-amplification attacks, and what became of
// each attack.
type RepliesResult struct {
	Scenario string  `json:"scenario"`
	Events   int     `json:"events"`
	Sessions int     `json:"sessions"`
	BuildS   float64 `json:"build_s"`
	// (a) history requests written on a socket that never reads.
	HistoryRequests int   `json:"history_requests"`
	HistorySent     int64 `json:"history_sent"`
	// (b) pipelined resumes from after_seq 0 and their answers.
	Resumes      int   `json:"resumes"`
	ResumedPages int64 `json:"resumed_pages"`
	ResumeEvents int64 `json:"resume_events"`
	// (c) JSON transcripts: read to the end with HTTP 200, and bytes read.
	Transcripts     int     `json:"transcripts"`
	TranscriptsDone int64   `json:"transcripts_done"`
	TranscriptMiB   float64 `json:"transcript_mib"`
	// (d) pipelined sessions list requests, their answers and the sessions
	// they listed.
	SessionsRequests int   `json:"sessions_requests"`
	SessionsReplies  int64 `json:"sessions_replies"`
	SessionsListed   int64 `json:"sessions_listed"`
	// Completed is true when every attack ran to its end within the cap.
	Completed bool    `json:"completed"`
	ElapsedS  float64 `json:"elapsed_s"`
	Samples   int     `json:"samples"`
	// RSS (VmRSS) of the server: before the attacks, the highest of the
	// samples taken every 100 ms while they ran, and the difference.
	RSSBaseMiB   float64 `json:"rss_base_mib"`
	RSSPeakMiB   float64 `json:"rss_peak_mib"`
	RSSGrowthMiB float64 `json:"rss_growth_mib"`
	// Met is rss_growth_mib < 100, the target of issue 8.
	Met        bool   `json:"met"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
}

func (c *RepliesConfig) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Events, 30_000)
	def(&c.Sessions, 15_000)
	def(&c.HistoryRequests, 250)
	def(&c.Resumes, 20)
	def(&c.Transcripts, 10)
	def(&c.SessionsRequests, 100)
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.Stall <= 0 {
		c.Stall = 3 * time.Second
	}
}

// repliesLimits are serve's default limits, which the replies scenario
// measures (bench children otherwise run with them lifted).
func repliesLimits() []string {
	return []string{
		"--max-conns-per-ip", strconv.Itoa(httpapi.DefaultMaxConnsPerIP),
		"--max-conns-per-customer", strconv.Itoa(httpapi.DefaultMaxConnsPerCustomer),
		"--max-conns-per-agent", strconv.Itoa(httpapi.DefaultMaxConnsPerAgent),
		"--max-customer-conns", strconv.Itoa(httpapi.DefaultMaxCustomerConns()),
		"--send-rate", fmt.Sprint(httpapi.DefaultSendRate),
		"--command-rate", fmt.Sprint(httpapi.DefaultCommandRate),
	}
}

// The two customers of the replies database.
const (
	repliesLong = "replies-long" // owns the long open session
	repliesMany = "replies-many" // owns cfg.Sessions ended sessions
)

// Replies builds a database holding one open session of cfg.Events events
// and a customer with cfg.Sessions sessions, starts a child server on it
// with serve's default limits, and launches four reply-amplification
// attacks at once: (a) a socket that never reads sends history requests;
// (b) resumes from after_seq 0 are pipelined and read late; (c) JSON
// transcripts of the long session are fetched, half read slowly and half
// not at all until late; (d) the many-session customer pipelines sessions
// list requests, read late. It samples the server's RSS every 100 ms.
func Replies(ctx context.Context, o Options, cfg RepliesConfig) (*RepliesResult, error) {
	cfg.defaults()
	if o.URL != "" {
		return nil, errors.New("the replies scenario builds its own database and server; drop --url")
	}
	o.ServeArgs = append(repliesLimits(), o.ServeArgs...)
	st := &status{w: o.Status}
	defer st.done()
	res := &RepliesResult{
		Scenario: "replies", Events: cfg.Events, Sessions: cfg.Sessions,
		HistoryRequests: cfg.HistoryRequests, Resumes: cfg.Resumes, Transcripts: cfg.Transcripts,
		SessionsRequests: cfg.SessionsRequests,
	}
	dir, err := os.MkdirTemp("", "parley-bench-replies-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	sid, err := buildRepliesDB(ctx, filepath.Join(dir, "parley.db"), cfg, st)
	if err != nil {
		return nil, fmt.Errorf("build database: %w", err)
	}
	res.BuildS = round3(time.Since(start).Seconds())

	st.printf("replies: starting server")
	srv, err := startServer(ctx, &o, dir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := srv.waitReady(ctx, 5*time.Minute); err != nil {
		return nil, err
	}
	longTok, err := srv.customerToken(repliesLong)
	if err != nil {
		return nil, err
	}
	manyTok, err := srv.customerToken(repliesMany)
	if err != nil {
		return nil, err
	}
	var socks [3]*conn // history, resume, sessions
	defer func() { closeAll(socks[:]) }()
	for i, tok := range []string{longTok, longTok, manyTok} {
		if socks[i], err = srv.dialHello(ctx, i, "/v1/customer/ws", tok); err != nil {
			return nil, fmt.Errorf("connect: %w", err)
		}
	}

	var firstErr sync.Once
	fail := func(err error) {
		atomic.AddInt64(&res.Errors, 1)
		firstErr.Do(func() { res.FirstError = err.Error() })
	}
	var tBytes atomic.Int64
	a := &repliesAttack{srv: srv, cfg: cfg, sid: sid, res: res, fail: fail, tBytes: &tBytes, abort: make(chan struct{})}

	base := srv.rss()
	res.RSSBaseMiB = round3(float64(base) / (1 << 20))
	peak := base
	sample := func() {
		if r := srv.rss(); r > peak {
			peak = r
		}
		res.Samples++
	}

	begin := time.Now()
	var wg sync.WaitGroup
	wg.Add(3 + cfg.Transcripts)
	go func() { defer wg.Done(); a.history(socks[0]) }()
	go func() { defer wg.Done(); a.resumes(socks[1]) }()
	go func() { defer wg.Done(); a.sessions(socks[2]) }()
	tctx, cancelT := context.WithCancel(ctx)
	defer cancelT()
	for i := range cfg.Transcripts {
		go func() { defer wg.Done(); a.transcript(tctx, i, longTok) }()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(cfg.Duration)
	defer limit.Stop()
	finished := false
	for !finished {
		select {
		case <-tick.C:
			sample()
			st.printf("replies: RSS %.0f MiB (base %.0f, peak %.0f); history %d/%d, resumed %d/%d, transcripts %d/%d (%.0f MiB), sessions %d/%d",
				float64(srv.rss())/(1<<20), float64(base)/(1<<20), float64(peak)/(1<<20),
				atomic.LoadInt64(&res.HistorySent), cfg.HistoryRequests, atomic.LoadInt64(&res.ResumedPages), cfg.Resumes,
				atomic.LoadInt64(&res.TranscriptsDone), cfg.Transcripts, float64(tBytes.Load())/(1<<20),
				atomic.LoadInt64(&res.SessionsReplies), cfg.SessionsRequests)
		case <-done:
			finished = true
		case <-limit.C:
			finished = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	sample()
	res.ElapsedS = round3(time.Since(begin).Seconds())
	// Stop whatever still runs: the never-reading socket and anything the
	// cap cut short.
	close(a.abort)
	cancelT()
	closeAll(socks[:])
	wg.Wait()

	res.Completed = a.historyDone.Load() && res.ResumedPages == int64(cfg.Resumes) &&
		res.TranscriptsDone == int64(cfg.Transcripts) && res.SessionsReplies == int64(cfg.SessionsRequests)
	res.TranscriptMiB = round3(float64(tBytes.Load()) / (1 << 20))
	res.RSSPeakMiB = round3(float64(peak) / (1 << 20))
	res.RSSGrowthMiB = round3(float64(peak-base) / (1 << 20))
	res.Met = base > 0 && res.RSSGrowthMiB < 100
	return res, ctx.Err()
}

// repliesAttack holds what the four attacks share.
type repliesAttack struct {
	srv         *server
	cfg         RepliesConfig
	sid         string
	res         *RepliesResult
	fail        func(error)
	tBytes      *atomic.Int64
	abort       chan struct{}
	historyDone atomic.Bool
}

// wait waits for d, or less if the run is aborted; it reports whether the
// whole wait passed.
func (a *repliesAttack) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-a.abort:
		return false
	}
}

// pipeline writes n frames made by mk without reading, and returns how
// many were written.
func (a *repliesAttack) pipeline(c *conn, n int, mk func(buf []byte, i int) []byte) int64 {
	_ = c.ws.SetWriteDeadline(time.Now().Add(a.cfg.Duration))
	var buf []byte
	for i := range n {
		buf = mk(buf[:0], i)
		if err := c.write(buf); err != nil {
			a.fail(fmt.Errorf("write: %w", err))
			return int64(i)
		}
	}
	return int64(n)
}

// history is attack (a): history requests on a socket that never reads.
// The socket stays open, unread, until the run ends.
func (a *repliesAttack) history(c *conn) {
	sent := a.pipeline(c, a.cfg.HistoryRequests, func(b []byte, i int) []byte {
		return fmt.Appendf(b, `{"type":"history","session_id":%q,"before_seq":0,"limit":200,"req":"h%d"}`, a.sid, i)
	})
	atomic.StoreInt64(&a.res.HistorySent, sent)
	a.historyDone.Store(sent == int64(a.cfg.HistoryRequests))
}

// resumes is attack (b): resumes from after_seq 0, pipelined, read only
// after the stall.
func (a *repliesAttack) resumes(c *conn) {
	n := a.pipeline(c, a.cfg.Resumes, func(b []byte, i int) []byte {
		return fmt.Appendf(b, `{"type":"resume","session_id":%q,"after_seq":0,"limit":1000,"req":"r%d"}`, a.sid, i)
	})
	if n < int64(a.cfg.Resumes) || !a.wait(a.cfg.Stall) {
		return
	}
	a.readUntil(c, n, func(f *repliesFrame) bool {
		switch f.Type {
		case "event":
			atomic.AddInt64(&a.res.ResumeEvents, 1)
		case "resumed":
			atomic.AddInt64(&a.res.ResumedPages, 1)
			return true
		}
		return false
	})
}

// sessions is attack (d): sessions list requests of the many-session
// customer, pipelined, read only after the stall.
func (a *repliesAttack) sessions(c *conn) {
	n := a.pipeline(c, a.cfg.SessionsRequests, func(b []byte, i int) []byte {
		return fmt.Appendf(b, `{"type":"sessions","req":"s%d"}`, i)
	})
	if n < int64(a.cfg.SessionsRequests) || !a.wait(a.cfg.Stall) {
		return
	}
	a.readUntil(c, n, func(f *repliesFrame) bool {
		if f.Type != "sessions" || f.Re == "" {
			return false
		}
		atomic.AddInt64(&a.res.SessionsReplies, 1)
		atomic.AddInt64(&a.res.SessionsListed, int64(len(f.Sessions)))
		return true
	})
}

// repliesFrame is the part of a server frame the attacks look at.
type repliesFrame struct {
	Type     string            `json:"type"`
	Re       string            `json:"re"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Sessions []json.RawMessage `json:"sessions"`
}

// readUntil reads frames until count has returned true n times; error
// frames are counted as errors and end nothing.
func (a *repliesAttack) readUntil(c *conn, n int64, count func(*repliesFrame) bool) {
	for got := int64(0); got < n; {
		data, err := c.Read()
		if err != nil {
			select {
			case <-a.abort:
			default:
				a.fail(fmt.Errorf("read: %w", err))
			}
			return
		}
		f := new(repliesFrame)
		if err := json.Unmarshal(data, f); err != nil {
			a.fail(fmt.Errorf("bad frame %.100q: %w", data, err))
			return
		}
		if f.Type == "error" {
			a.fail(fmt.Errorf("%s: %s", f.Code, f.Message))
			continue
		}
		if count(f) {
			got++
		}
	}
}

// transcript is attack (c): the i-th JSON transcript of the long session.
// Even ones are not read at all until the stall has passed, then read at
// full speed; odd ones are read slowly, 64 KiB every 25 ms.
func (a *repliesAttack) transcript(ctx context.Context, i int, token string) {
	tr := &http.Transport{
		DialContext:       (&net.Dialer{LocalAddr: a.srv.localAddr(i)}).DialContext,
		DisableKeepAlives: true,
		ReadBufferSize:    4096,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		a.srv.base+"/v1/customer/sessions/"+a.sid+"/transcript?format=json", nil)
	if err != nil {
		a.fail(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() == nil {
			a.fail(fmt.Errorf("transcript: %w", err))
		}
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.fail(fmt.Errorf("transcript: HTTP %d", resp.StatusCode))
		return
	}
	buf := make([]byte, 64<<10)
	if i%2 == 0 && !a.wait(a.cfg.Stall) {
		return
	}
	for {
		n, err := io.ReadFull(resp.Body, buf)
		a.tBytes.Add(int64(n))
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			atomic.AddInt64(&a.res.TranscriptsDone, 1)
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				a.fail(fmt.Errorf("transcript: %w", err))
			}
			return
		}
		if i%2 == 1 && !a.wait(25*time.Millisecond) {
			return
		}
	}
}

// buildRepliesDB writes the fixture: one agent; the long customer's open
// (active) session of cfg.Events events; the other customer's cfg.Sessions
// ended sessions of one event each. It returns the long session's id.
func buildRepliesDB(ctx context.Context, path string, cfg RepliesConfig, st *status) (string, error) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		return "", err
	}
	defer db.Close()
	now := time.Now().Add(-time.Hour)
	at := parley.TimeOf(now)
	ag := &parley.Agent{
		ID: parley.NewID(now), Name: "Agent", Email: "agent@bench.invalid",
		Capacity: 2, Status: parley.StatusOffline, PasswordHash: []byte("x"), CreatedAt: at,
	}
	long := &parley.SessionRecord{
		ID: parley.NewID(now), State: parley.StateActive, Customer: parley.Customer{ID: repliesLong, Name: "Long"},
		Agents: []parley.AgentRef{ag.Ref()}, Participants: []string{ag.ID}, CreatedAt: at, QueuedAt: at, AssignedAt: at,
	}
	err = db.Update(ctx, func(tx *storage.Tx) error {
		if err := tx.PutAgent(ag); err != nil {
			return err
		}
		return tx.PutSession(long)
	})
	if err != nil {
		return "", err
	}
	cust := parley.Participant{Role: parley.RoleCustomer, ID: repliesLong, Name: "Long"}
	text := "Thanks for waiting, let me check that order for you; it should ship within two days."
	for e := 0; e < cfg.Events; {
		end := min(cfg.Events, e+buildBatch)
		err := db.Update(ctx, func(tx *storage.Tx) error {
			for ; e < end; e++ {
				ev := &parley.Event{Kind: parley.KindMessage, From: cust, Text: text, ClientMsgID: fmt.Sprintf("m%d", e)}
				switch {
				case e == 0:
					ev = &parley.Event{Kind: parley.KindQueued, From: cust}
				case e%2 == 1:
					ev.From, ev.ClientMsgID = ag.Participant(), ""
				}
				if _, err := tx.Append(long.ID, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		st.printf("replies: building database, %d/%d events", e, cfg.Events)
	}
	many := parley.Customer{ID: repliesMany, Name: "Many"}
	for s := 0; s < cfg.Sessions; {
		end := min(cfg.Sessions, s+5000)
		err := db.Update(ctx, func(tx *storage.Tx) error {
			for ; s < end; s++ {
				t := now.Add(time.Duration(s) * time.Millisecond)
				r := &parley.SessionRecord{
					ID: parley.NewID(t), State: parley.StateEnded, Customer: many, Agents: []parley.AgentRef{},
					CreatedAt: parley.TimeOf(t), QueuedAt: parley.TimeOf(t), EndedAt: parley.TimeOf(t), EndReason: parley.EndCustomer,
				}
				if err := tx.PutSession(r); err != nil {
					return err
				}
				ev := &parley.Event{Kind: parley.KindQueued, From: parley.Participant{Role: parley.RoleCustomer, ID: many.ID, Name: many.Name}}
				if _, err := tx.Append(r.ID, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		st.printf("replies: building database, %d/%d sessions", s, cfg.Sessions)
	}
	return long.ID, nil
}
