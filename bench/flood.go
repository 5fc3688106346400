package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-chat/parley/internal/wsclient"
)

// FloodResult is what one abusive customer achieved: sockets let in and
// refused, frames written, messages stored and refused as rate_limited.
type FloodResult struct {
	Conns       int    `json:"conns"`
	Refused     int    `json:"refused"`
	Frames      int64  `json:"frames"`
	Acked       int64  `json:"acked"`
	RateLimited int64  `json:"rate_limited"`
	FirstError  string `json:"first_error,omitempty"`
}

// floodReady is the line Flood's process prints once its sockets are open.
const floodReady = "flood ready"

// Flood is the abusive customer of the noisy scenario. It opens up to conns
// customer sockets at wsURL with token, starts a session, and until stop
// is closed writes sends, typing and sessions frames as fast as the
// sockets take them, without waiting for answers, while reading and
// counting every answer. ready is called once the sockets are open.
//
// It runs in a process of its own (parley bench flood), so that the
// flood's own CPU does not slow the measuring clients: a real attacker
// does not run inside the measuring process either.
func Flood(ctx context.Context, wsURL, token string, conns int, ready func(), stop <-chan struct{}) (*FloodResult, error) {
	res := &FloodResult{}
	var socks []*wsclient.Conn
	defer func() {
		for _, c := range socks {
			c.Close()
		}
	}()
	for range conns {
		c, err := wsclient.Dial(ctx, wsURL, wsclient.Options{Timeout: 10 * time.Second})
		if err != nil {
			res.Refused++
			continue
		}
		hello, _ := json.Marshal(map[string]any{"type": "hello", "token": token})
		if err := c.Write(hello); err != nil {
			c.Close()
			res.Refused++
			continue
		}
		welcome, err := c.Read()
		if err != nil || !strings.Contains(string(welcome), `"welcome"`) {
			c.Close()
			res.Refused++
			continue
		}
		socks = append(socks, c)
	}
	res.Conns = len(socks)
	if len(socks) == 0 {
		return res, errors.New("the abuser could not connect at all")
	}
	if err := socks[0].Write([]byte(`{"type":"start","req":"start"}`)); err != nil {
		return res, err
	}
	ready()
	var wg sync.WaitGroup
	text := strings.Repeat("x", 1000)
	for i, c := range socks {
		wg.Add(2)
		go func() { // read and count everything, promptly
			defer wg.Done()
			for {
				data, err := c.Read()
				if err != nil {
					return
				}
				var f frame
				if json.Unmarshal(data, &f) != nil {
					continue
				}
				switch {
				case f.Type == "sent":
					atomic.AddInt64(&res.Acked, 1)
				case f.Type == "error" && f.Code == "rate_limited":
					atomic.AddInt64(&res.RateLimited, 1)
				}
			}
		}()
		go func() { // flood without waiting for answers
			defer wg.Done()
			// Frames are built cheaply, so that the flood measures the
			// server rather than this process's encoder.
			var buf []byte
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				switch n % 4 {
				case 0, 1:
					buf = fmt.Appendf(buf[:0], `{"type":"send","text":%q,"client_msg_id":"a%d-%d","req":"%d"}`, text, i, n, n)
				case 2:
					buf = append(buf[:0], `{"type":"typing","active":true}`...)
				case 3:
					buf = append(buf[:0], `{"type":"sessions","req":"s"}`...)
				}
				if c.Write(buf) != nil {
					return
				}
				atomic.AddInt64(&res.Frames, 1)
			}
		}()
	}
	<-stop
	for _, c := range socks {
		c.Close()
	}
	socks = nil
	wg.Wait()
	return res, nil
}

// floodProc is a running parley bench flood process.
type floodProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startFlood starts the abusive customer in a process of its own and
// returns once its sockets are open.
func startFlood(o *Options, wsURL, token string, conns int) (*floodProc, error) {
	command := o.Command
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		command = []string{exe}
	}
	args := append(append([]string{}, command[1:]...), "bench", "flood", "--json", "--quiet",
		"--url", wsURL, "--flood-token", token, "--abuser-conns", fmt.Sprint(conns))
	cmd := exec.Command(command[0], args...)
	cmd.Env = append(os.Environ(), o.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the flood: %w", err)
	}
	p := &floodProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := p.out.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != floodReady {
		p.stop()
		return nil, fmt.Errorf("the flood did not start: %q %v", line, err)
	}
	return p, nil
}

// finish ends the flood and returns what it achieved.
func (p *floodProc) finish() (*FloodResult, error) {
	_ = p.stdin.Close()
	line, rerr := p.out.ReadString('\n')
	werr := p.cmd.Wait()
	res := &FloodResult{}
	if err := json.Unmarshal([]byte(line), res); err != nil {
		return nil, fmt.Errorf("the flood's result %q: %w (read: %v, exit: %v)", line, err, rerr, werr)
	}
	return res, nil
}

func (p *floodProc) stop() {
	_ = p.stdin.Close()
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// RunFlood is the body of parley bench flood: it floods until in reaches
// its end, printing floodReady once the sockets are open, then the result
// as one JSON line on out.
func RunFlood(ctx context.Context, wsURL, token string, conns int, in io.Reader, out io.Writer) error {
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, in)
		close(stop)
	}()
	res, err := Flood(ctx, wsURL, token, conns, func() { fmt.Fprintln(out, floodReady) }, stop)
	if res == nil {
		return err
	}
	if err != nil {
		res.FirstError = err.Error()
	}
	b, _ := json.Marshal(res)
	_, werr := fmt.Fprintf(out, "%s\n", b)
	return werr
}
