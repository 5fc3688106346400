package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SessionsConfig configures the sessions scenario.
type SessionsConfig struct {
	// Sessions is the number of queued sessions, each on its own idle
	// customer connection; default 10,000.
	Sessions int
}

// SessionsResult is what the sessions scenario reports. Every figure is
// of the server process, measured twice after a forced GC: once with the
// N idle customer connections open (hello done, no session) and once
// after each of them started a session that stays queued (no agents).
// The per-session figures are the differences divided by N, so they count
// what a queued session costs beyond its connection.
type SessionsResult struct {
	Scenario string `json:"scenario"`
	Sessions int    `json:"sessions"`
	Failed   int    `json:"failed"`
	// RSS (VmRSS of /proc/PID/status) after GC, without and with sessions.
	RSSConnsMiB    float64 `json:"rss_conns_mib"`
	RSSSessionsMiB float64 `json:"rss_sessions_mib"`
	// RSSPerSessionKiB is (rss_sessions - rss_conns) / sessions.
	RSSPerSessionKiB float64 `json:"rss_per_session_kib"`
	// HeapPerSessionKiB is the same difference of live heap plus goroutine
	// stacks in use (runtime.MemStats HeapAlloc + StackInuse after GC), the
	// memory the sessions themselves hold, free of allocator slack.
	HeapPerSessionKiB float64 `json:"heap_per_session_kib"`
	// GoroutinesPerSession is the difference of the server's goroutine
	// counts divided by N: 0 when queued sessions keep no goroutine.
	GoroutinesPerSession float64 `json:"goroutines_per_session"`
	StartS               float64 `json:"start_s"`
	FirstError           string  `json:"first_error,omitempty"`
}

// Sessions opens cfg.Sessions idle customer connections to a child
// server, measures it, has every connection start a session (queued, as
// no agent is connected), and measures it again. The child serves Go
// profiles on a loopback port, through which the scenario forces a GC
// and reads the runtime's memory statistics.
func Sessions(ctx context.Context, o Options, cfg SessionsConfig) (*SessionsResult, error) {
	if cfg.Sessions <= 0 {
		cfg.Sessions = 10_000
	}
	if o.URL != "" {
		return nil, errors.New("the sessions scenario runs its own server; drop --url")
	}
	if _, err := RaiseFileLimit(); err != nil {
		return nil, err
	}
	st := &status{w: o.Status}
	defer st.done()
	debugAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	o.ServeArgs = append(append([]string{}, o.ServeArgs...), "--debug-listen", debugAddr)
	st.printf("sessions: starting server")
	srv, err := startServer(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := srv.waitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	res := &SessionsResult{Scenario: "sessions"}
	var (
		failed   atomic.Int64
		done     atomic.Int64
		firstErr sync.Once
	)
	fail := func(err error) {
		failed.Add(1)
		firstErr.Do(func() { res.FirstError = err.Error() })
	}
	run := randomHex(4)
	conns := make([]*conn, cfg.Sessions)
	defer closeAll(conns)
	stop := make(chan struct{})
	defer close(stop)
	go ticker(500*time.Millisecond, stop, func() {
		st.printf("sessions: %d/%d done, %d failed, server RSS %.0f MiB",
			done.Load(), cfg.Sessions, failed.Load(), float64(srv.rss())/(1<<20))
	})
	workers := 4 * runtime.GOMAXPROCS(0) * 8
	_ = parallel(ctx, cfg.Sessions, workers, func(i int) error {
		defer done.Add(1)
		tok, err := srv.customerToken(fmt.Sprintf("ss-%s-%d", run, i))
		if err == nil {
			conns[i], err = srv.dialHello(ctx, i, "/v1/customer/ws", tok)
		}
		if err != nil {
			fail(err)
		}
		return nil
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st.printf("sessions: measuring %d idle connections", cfg.Sessions)
	before, err := measureServer(ctx, srv, debugAddr)
	if err != nil {
		return nil, err
	}
	done.Store(0)
	start := time.Now()
	_ = parallel(ctx, cfg.Sessions, workers, func(i int) error {
		defer done.Add(1)
		if conns[i] == nil {
			return nil
		}
		if err := conns[i].send(map[string]any{"type": "start", "req": "s"}); err != nil {
			fail(err)
			return nil
		}
		if _, err := conns[i].expect(time.Minute, "session"); err != nil {
			fail(err)
		}
		return nil
	})
	res.StartS = round3(time.Since(start).Seconds())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st.printf("sessions: measuring %d queued sessions", cfg.Sessions)
	after, err := measureServer(ctx, srv, debugAddr)
	if err != nil {
		return nil, err
	}
	res.Failed = int(failed.Load())
	res.Sessions = cfg.Sessions - res.Failed
	res.RSSConnsMiB = round3(float64(before.rss) / (1 << 20))
	res.RSSSessionsMiB = round3(float64(after.rss) / (1 << 20))
	if res.Sessions > 0 {
		n := float64(res.Sessions)
		res.RSSPerSessionKiB = round3(float64(after.rss-before.rss) / 1024 / n)
		res.HeapPerSessionKiB = round3(float64(after.held()-before.held()) / 1024 / n)
		res.GoroutinesPerSession = round3(float64(after.goroutines-before.goroutines) / n)
	}
	return res, nil
}

// serverMemory is the server's memory after a forced GC.
type serverMemory struct {
	rss        int64 // VmRSS
	heapAlloc  int64 // live heap objects
	stackInuse int64 // goroutine stacks
	goroutines int64
}

func (m serverMemory) held() int64 { return m.heapAlloc + m.stackInuse }

// measureServer forces two GCs in the server (the second frees what the
// first only finalised) through its heap profile, and reads its memory.
func measureServer(ctx context.Context, srv *server, debugAddr string) (serverMemory, error) {
	var m serverMemory
	for range 2 {
		var err error
		if m, err = heapStats(ctx, debugAddr); err != nil {
			return m, err
		}
	}
	m.rss = srv.rss()
	g, err := goroutines(ctx, debugAddr)
	if err != nil {
		return m, err
	}
	m.goroutines = g
	return m, nil
}

// heapStats fetches the server's heap profile in text form after a GC
// (?gc=1&debug=1) and parses the runtime.MemStats lines at its end.
func heapStats(ctx context.Context, debugAddr string) (serverMemory, error) {
	var m serverMemory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+debugAddr+"/debug/pprof/heap?gc=1&debug=1", nil)
	if err != nil {
		return m, err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return m, fmt.Errorf("server heap profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("server heap profile: HTTP %d", resp.StatusCode)
	}
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// "# HeapAlloc = 123" and "# Stack = <inuse> / <sys>".
		name, val, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(val, " ")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "HeapAlloc":
			m.heapAlloc, found = n, found+1
		case "Stack":
			m.stackInuse, found = n, found+1
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found != 2 {
		return m, errors.New("server heap profile has no memory statistics")
	}
	return m, nil
}

// goroutines reads the number of goroutines from the server's goroutine
// profile ("goroutine profile: total N").
func goroutines(ctx context.Context, debugAddr string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+debugAddr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("server goroutine profile: %w", err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, resp.Body)
	n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("server goroutine profile: unexpected %q", line)
	}
	return n, nil
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
