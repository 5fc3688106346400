package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// NoisyConfig configures the noisy scenario.
type NoisyConfig struct {
	// Customers is the number of well-behaved customers; default 100.
	Customers int
	// Rate is the messages per second each of them sends; default 2.
	Rate float64
	// Duration is how long each phase (alone, with the abuser) lasts;
	// default 5s.
	Duration time.Duration
	// AbuserConns is how many sockets the abusive customer tries to open;
	// default 64 (the server lets in as many as --max-conns-per-customer).
	AbuserConns int
	// Onset is how long the others chat while the flood starts, before the
	// phase measured as "with the abuser"; default 2s.
	Onset time.Duration
}

// NoisyResult is what the noisy scenario reports: the well-behaved
// customers' acknowledgement latency alone and while one customer floods,
// and what became of the flood.
type NoisyResult struct {
	Scenario  string  `json:"scenario"`
	Customers int     `json:"customers"`
	Rate      float64 `json:"rate_per_customer"`
	DurationS float64 `json:"duration_s"`
	// P99MsAlone and P99MsWithAbuser are the others' p99 ack latencies.
	P99MsAlone      float64 `json:"p99_ms_alone"`
	P99MsWithAbuser float64 `json:"p99_ms_with_abuser"`
	P50MsAlone      float64 `json:"p50_ms_alone"`
	P50MsWithAbuser float64 `json:"p50_ms_with_abuser"`
	// P99MsOnset is the others' p99 while the flood starts: the abusive
	// process then spends most of a core filling its own socket buffers,
	// which on one shared machine competes with the server for CPU (a
	// remote attacker's CPU does not).
	P99MsOnset float64 `json:"p99_ms_onset"`
	OnsetS     float64 `json:"onset_s"`
	// Ratio is p99_ms_with_abuser / p99_ms_alone (target: at most 2).
	Ratio float64 `json:"ratio"`
	// OthersFailed counts the others' sends that got no ack.
	OthersFailed int64 `json:"others_failed"`
	// The abuser: sockets let in and refused, frames written, messages
	// acknowledged (stored) and refused as rate_limited.
	AbuserConns       int    `json:"abuser_conns"`
	AbuserRefused     int    `json:"abuser_refused"`
	AbuserFrames      int64  `json:"abuser_frames"`
	AbuserAcked       int64  `json:"abuser_acked"`
	AbuserRateLimited int64  `json:"abuser_rate_limited"`
	FirstError        string `json:"first_error,omitempty"`
}

// noisyLimits are serve's default limits: the scenario measures them,
// where the other scenarios lift them.
var noisyLimits = []string{"--max-conns-per-customer", "16", "--send-rate", "10", "--send-burst", "20",
	"--command-rate", "50", "--command-burst", "100"}

// Noisy has cfg.Customers customers chat at cfg.Rate messages per second
// each, first alone and then while one abusive customer floods its own
// session from as many sockets as it may open (sends, typing and history
// requests, pipelined without waiting for answers), and reports the
// others' ack latencies in both phases. The phase with the abuser starts
// once the flood has run for cfg.Onset, so that it measures a sustained
// flood; the onset is measured and reported on its own.
func Noisy(ctx context.Context, o Options, cfg NoisyConfig) (*NoisyResult, error) {
	if cfg.Customers <= 0 {
		cfg.Customers = 100
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 2
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.AbuserConns <= 0 {
		cfg.AbuserConns = 64
	}
	if cfg.Onset <= 0 {
		cfg.Onset = 2 * time.Second
	}
	if o.URL == "" {
		o.ServeArgs = append(append([]string{}, noisyLimits...), o.ServeArgs...)
	}
	st := &status{w: o.Status}
	defer st.done()
	st.printf("noisy: starting server")
	srv, err := startServer(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := srv.waitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	res := &NoisyResult{Scenario: "noisy", Customers: cfg.Customers, Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(),
		OnsetS: cfg.Onset.Seconds()}
	var firstErr sync.Once
	noteErr := func(err error) { firstErr.Do(func() { res.FirstError = err.Error() }) }
	run := randomHex(4)

	// The well-behaved customers, each with an open (queued) session.
	others := make([]*conn, cfg.Customers)
	defer closeAll(others)
	err = parallel(ctx, cfg.Customers, 16, func(i int) error {
		tok, err := srv.customerToken(fmt.Sprintf("calm-%s-%d", run, i))
		if err != nil {
			return err
		}
		if others[i], err = srv.dialHello(ctx, i, "/v1/customer/ws", tok); err != nil {
			return err
		}
		if err := others[i].send(map[string]any{"type": "start", "req": "start"}); err != nil {
			return err
		}
		_, err = others[i].expect(30*time.Second, "session")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect customers: %w", err)
	}

	st.printf("noisy: %d customers chatting alone", cfg.Customers)
	alone, failed := chatPhase(ctx, others, cfg, noteErr)
	res.OthersFailed += failed

	// The abuser.
	tok, err := srv.customerToken("abuser-" + run)
	if err != nil {
		return nil, err
	}
	fl, err := startFlood(&o, srv.ws+"/v1/customer/ws", tok, cfg.AbuserConns)
	if err != nil {
		return nil, err
	}
	st.printf("noisy: %d customers chatting while the flood starts", cfg.Customers)
	onsetCfg := cfg
	onsetCfg.Duration = cfg.Onset
	onset, failed := chatPhase(ctx, others, onsetCfg, noteErr)
	res.OthersFailed += failed
	st.printf("noisy: %d customers chatting while one floods", cfg.Customers)
	with, failed := chatPhase(ctx, others, cfg, noteErr)
	res.OthersFailed += failed
	fr, err := fl.finish()
	if err != nil {
		return nil, err
	}
	res.AbuserConns, res.AbuserRefused = fr.Conns, fr.Refused
	res.AbuserFrames, res.AbuserAcked, res.AbuserRateLimited = fr.Frames, fr.Acked, fr.RateLimited
	if fr.FirstError != "" {
		noteErr(errors.New("flood: " + fr.FirstError))
	}

	p := percentiles(alone, 0.5, 0.99)
	res.P50MsAlone, res.P99MsAlone = p[0], p[1]
	p = percentiles(with, 0.5, 0.99)
	res.P50MsWithAbuser, res.P99MsWithAbuser = p[0], p[1]
	res.P99MsOnset = percentiles(onset, 0.99)[0]
	if res.P99MsAlone > 0 {
		res.Ratio = round3(res.P99MsWithAbuser / res.P99MsAlone)
	}
	return res, ctx.Err()
}

// chatPhase has every customer send at cfg.Rate for cfg.Duration, each
// message after the previous one's ack, and returns the ack latencies in
// milliseconds and how many sends failed.
func chatPhase(ctx context.Context, conns []*conn, cfg NoisyConfig, noteErr func(error)) ([]float64, int64) {
	var (
		mu     sync.Mutex
		lats   []float64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	end := time.Now().Add(cfg.Duration)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the customers over the interval.
			next := time.Now().Add(interval * time.Duration(i) / time.Duration(len(conns)))
			for n := 0; ctx.Err() == nil; n++ {
				if d := time.Until(next); d > 0 {
					t := time.NewTimer(d)
					<-t.C
				}
				if time.Now().After(end) {
					return
				}
				next = next.Add(interval)
				req := fmt.Sprintf("m%d", n)
				start := time.Now()
				err := c.send(map[string]any{"type": "send", "text": "hello there", "client_msg_id": randomHex(6), "req": req})
				if err == nil {
					err = awaitAck(c, req)
				}
				if err != nil {
					failed.Add(1)
					noteErr(err)
					return
				}
				ms := float64(time.Since(start).Microseconds()) / 1000
				mu.Lock()
				lats = append(lats, ms)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lats, failed.Load()
}

// awaitAck reads until the answer to req: a sent frame, or an error.
func awaitAck(c *conn, req string) error {
	_ = c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = c.ws.SetReadDeadline(time.Time{}) }()
	for {
		f, err := c.read()
		if err != nil {
			return err
		}
		if f.Re != req {
			continue
		}
		if f.Type != "sent" {
			return fmt.Errorf("send answered %s %s: %s", f.Type, f.Code, f.Message)
		}
		return nil
	}
}
