package bench

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// EchoConfig configures the raw WebSocket baseline.
type EchoConfig struct {
	// Conns is the number of client connections.
	Conns int
	// Window is how many messages each connection keeps in flight.
	Window int
	// Size is the size of each message in bytes.
	Size int
	// Duration is how long to measure.
	Duration time.Duration
	// Rate, if positive, fixes the offered round trips per second.
	Rate float64
}

// EchoResult is the baseline: round trips of a plain gorilla/websocket
// echo server on loopback.
type EchoResult struct {
	RTPerS float64 `json:"echo_rt_per_s"`
	P50Ms  float64 `json:"echo_p50_ms"`
	P99Ms  float64 `json:"echo_p99_ms"`
}

// Echo measures a plain gorilla/websocket echo server on loopback with the
// same number of connections, message size and window as a Parley run: the
// most this machine can do with the same library and no application work,
// the yardstick of the throughput ratio.
func Echo(ctx context.Context, cfg EchoConfig, st *status) (*EchoResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, WriteBufferPool: &sync.Pool{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer ws.Close()
			for {
				kind, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if err := ws.WriteMessage(kind, data); err != nil {
					return
				}
			}
		}()
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	s := &server{}
	s.setAddr(ln.Addr().String())
	conns := make([]*websocket.Conn, cfg.Conns)
	err = parallel(ctx, cfg.Conns, 16, func(i int) error {
		ws, _, err := s.dialer(i).DialContext(ctx, s.ws+"/", nil)
		conns[i] = ws
		return err
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	payload := []byte(`{"type":"send","text":"` + strings.Repeat("x", max(0, cfg.Size-24)) + `"}`)
	start := time.Now().Add(20 * time.Millisecond)
	end := start.Add(cfg.Duration)
	var (
		count atomic.Int64
		wg    sync.WaitGroup
		lats  = make([][]float64, cfg.Conns)
	)
	stop := make(chan struct{})
	for i, ws := range conns {
		slots := make(chan struct{}, cfg.Window)
		for range cfg.Window {
			slots <- struct{}{}
		}
		sentAt := make(chan int64, cfg.Window+1)
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
				at := <-sentAt
				now := time.Now().UnixNano()
				if at >= start.UnixNano() && now <= end.UnixNano() {
					count.Add(1)
					lats[i] = append(lats[i], float64(now-at)/1e6)
				}
				slots <- struct{}{}
			}
		}()
		go func() { // writer
			defer wg.Done()
			next := start
			var interval time.Duration
			if cfg.Rate > 0 {
				interval = time.Duration(float64(cfg.Conns) / cfg.Rate * float64(time.Second))
				next = start.Add(time.Duration(int64(interval) * int64(i) / int64(cfg.Conns)))
			}
			time.Sleep(time.Until(next))
			for {
				select {
				case <-stop:
					return
				case <-slots:
				}
				at := time.Now().UnixNano()
				if interval > 0 {
					at = next.UnixNano()
				}
				sentAt <- at
				if err := ws.WriteMessage(websocket.TextMessage, payload); err != nil {
					return
				}
				if interval > 0 {
					next = next.Add(interval)
					select {
					case <-stop:
						return
					case <-time.After(time.Until(next)):
					}
				}
			}
		}()
	}
	progressStop := make(chan struct{})
	go ticker(500*time.Millisecond, progressStop, func() {
		if el := time.Since(start).Seconds(); el > 0 {
			st.printf("echo baseline: %4.1fs/%v  %7.0f round trips/s", el, cfg.Duration, float64(count.Load())/el)
		}
	})
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	close(progressStop)
	close(stop)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	}
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	var all []float64
	for _, l := range lats {
		all = append(all, l...)
	}
	ps := percentiles(all, 0.5, 0.99)
	return &EchoResult{RTPerS: float64(count.Load()) / cfg.Duration.Seconds(), P50Ms: ps[0], P99Ms: ps[1]}, ctx.Err()
}
