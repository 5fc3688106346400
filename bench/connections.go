package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectionsConfig configures the connections scenario.
type ConnectionsConfig struct {
	// Conns is the number of idle customer connections; default as many
	// as the file limit allows, less a reserve.
	Conns int
	// Settle is how long to wait after the last hello before reading
	// the server's memory; default 3s.
	Settle time.Duration
}

// ConnectionsResult is what the connections scenario reports.
type ConnectionsResult struct {
	Scenario      string  `json:"scenario"`
	Connections   int     `json:"connections"`
	Failed        int     `json:"failed"`
	FileLimit     uint64  `json:"file_limit"`
	RSSBeforeMiB  float64 `json:"rss_before_mib"`
	RSSAfterMiB   float64 `json:"rss_after_mib"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	ConnectS      float64 `json:"connect_s"`
	FirstError    string  `json:"first_error,omitempty"`
}

// fileReserve is how many descriptors are kept for everything but the
// connections (the database, listeners, the admin socket, pipes).
const fileReserve = 100

// Connections opens many idle customer connections (hello done) to a
// server in another process and reports the server's memory per
// connection.
func Connections(ctx context.Context, o Options, cfg ConnectionsConfig) (*ConnectionsResult, error) {
	limit, err := RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	if cfg.Conns <= 0 {
		cfg.Conns = int(limit) - fileReserve
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * time.Second
	}
	st := &status{w: o.Status}
	defer st.done()
	res := &ConnectionsResult{Scenario: "connections", FileLimit: limit}
	st.printf("connections: starting server")
	srv, err := startServer(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := srv.waitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	res.RSSBeforeMiB = float64(srv.rss()) / (1 << 20)
	run := randomHex(4)
	conns := make([]*conn, cfg.Conns)
	var (
		failed   atomic.Int64
		opened   atomic.Int64
		firstErr sync.Once
	)
	defer closeAll(conns)
	stop := make(chan struct{})
	go ticker(500*time.Millisecond, stop, func() {
		st.printf("connections: %d/%d open, %d failed, server RSS %.0f MiB",
			opened.Load(), cfg.Conns, failed.Load(), float64(srv.rss())/(1<<20))
	})
	start := time.Now()
	_ = parallel(ctx, cfg.Conns, 4*runtime.GOMAXPROCS(0)*8, func(i int) error {
		tok, err := srv.customerToken(fmt.Sprintf("cn-%s-%d", run, i))
		if err == nil {
			conns[i], err = srv.dialHello(ctx, i, "/v1/customer/ws", tok)
		}
		if err != nil {
			failed.Add(1)
			firstErr.Do(func() { res.FirstError = err.Error() })
			return nil
		}
		opened.Add(1)
		return nil
	})
	res.ConnectS = round3(time.Since(start).Seconds())
	st.printf("connections: %d open, settling for %v", opened.Load(), cfg.Settle)
	select {
	case <-time.After(cfg.Settle):
	case <-ctx.Done():
	}
	close(stop)
	rss := srv.rss()
	res.Connections, res.Failed = int(opened.Load()), int(failed.Load())
	res.RSSAfterMiB = float64(rss) / (1 << 20)
	if res.Connections > 0 && rss > 0 {
		res.RSSPerConnKiB = round3((res.RSSAfterMiB - res.RSSBeforeMiB) * 1024 / float64(res.Connections))
	}
	res.RSSBeforeMiB, res.RSSAfterMiB = round3(res.RSSBeforeMiB), round3(res.RSSAfterMiB)
	return res, ctx.Err()
}
