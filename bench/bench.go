// Package bench is Parley's load generator. It drives a real server, a
// child process on a temporary data directory or one already running,
// with simulated customers and agents over real WebSockets, and measures
// in the same run the raw baselines of the machine it runs on, so results
// can be compared across machines as ratios.
//
// It talks to the server only through the public protocol, the admin
// socket and (to build a recovery database) the storage package; it never
// reaches into the chat internals, so what it measures is what clients see.
package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/httpapi"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// Options are the settings every scenario shares.
type Options struct {
	// Command runs Parley: the executable and any leading arguments;
	// "serve …" is appended. Default: this executable.
	Command []string
	// Env is added to the environment of the child server.
	Env []string
	// ServeArgs are extra arguments for the child's serve command.
	ServeArgs []string
	// URL is the base URL (http://host:port) of a running server to use
	// instead of a child. Data must then name its data directory.
	URL string
	// Data is the data directory of the running server at URL: its admin
	// socket creates agents and its customer-secret file signs tokens.
	Data string
	// ServerPID is the process id of the running server at URL, to read
	// its memory use; 0 when unknown.
	ServerPID int
	// Status receives the one-line live status; nil shows none.
	Status io.Writer
	// ServerLog receives the child server's log (its stderr); nil drops it.
	ServerLog io.Writer
}

// RaiseFileLimit raises this process's soft limit of open files to the
// hard limit, which child processes inherit, and returns the new limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// server is the Parley server under test.
type server struct {
	base      string // http://host:port
	ws        string // ws://host:port
	host      string
	data      string
	custKey   []byte
	agentKey  []byte // nil when unknown (a server we did not start)
	pid       int
	cmd       *exec.Cmd
	exited    chan struct{}
	ownedData bool
	started   time.Time
}

var listenRe = regexp.MustCompile(`Parley listening on http://(\S+)`)

// newDataDir creates a temporary data directory holding a database and a
// customer secret, and returns it with the two signing keys.
func newDataDir() (dir string, custKey, agentKey []byte, err error) {
	dir, err = os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return "", nil, nil, err
	}
	custKey, agentKey, err = prepareDataDir(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, nil, err
	}
	return dir, custKey, agentKey, nil
}

// prepareDataDir creates (or opens) the database in dir to learn its agent
// secret, and the customer secret, before the server takes the file lock.
func prepareDataDir(dir string) (custKey, agentKey []byte, err error) {
	db, err := storage.Open(filepath.Join(dir, "parley.db"), storage.Options{})
	if err != nil {
		return nil, nil, err
	}
	agentKey = db.AgentSecret()
	if err := db.Close(); err != nil {
		return nil, nil, err
	}
	custKey, err = auth.LoadOrCreateSecret(filepath.Join(dir, "customer-secret"))
	return custKey, agentKey, err
}

// startServer starts a child server on dir (created when empty) or
// connects to the running one of o.URL.
func startServer(ctx context.Context, o *Options, dir string) (*server, error) {
	if o.URL != "" {
		return attachServer(o)
	}
	s := &server{exited: make(chan struct{})}
	var err error
	if dir == "" {
		if dir, s.custKey, s.agentKey, err = newDataDir(); err != nil {
			return nil, err
		}
		s.ownedData = true
	} else if s.custKey, s.agentKey, err = prepareDataDir(dir); err != nil {
		return nil, err
	}
	s.data = dir
	if err := s.spawn(ctx, o); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// unlimitedArgs lift serve's limits against abuse.
var unlimitedArgs = []string{"--max-conns-per-ip", "0", "--max-conns-per-customer", "0", "--max-conns-per-agent", "0",
	"--max-customer-conns", "0", "--send-rate", "0", "--command-rate", "0"}

// spawn runs the child and waits for its listening line.
func (s *server) spawn(ctx context.Context, o *Options) error {
	command := o.Command
	if len(command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		command = []string{exe}
	}
	args := append(append([]string{}, command[1:]...),
		"serve", "--data", s.data, "--listen", "127.0.0.1:0", "--log-level", "warn")
	// Scenarios measure capacity from one address, so the limits against
	// abuse are lifted unless ServeArgs set them again (the last flag wins).
	args = append(args, unlimitedArgs...)
	args = append(args, o.ServeArgs...)
	cmd := exec.Command(command[0], args...)
	cmd.Env = append(os.Environ(), o.Env...)
	if o.ServerLog != nil {
		cmd.Stderr = o.ServerLog
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(s.exited)
	}()
	select {
	case a := <-addr:
		s.setAddr(a)
		return nil
	case <-s.exited:
		return fmt.Errorf("server exited before listening: %v", cmd.ProcessState)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Minute):
		return errors.New("server did not start listening within 5 minutes")
	}
}

func (s *server) setAddr(hostport string) {
	s.base = "http://" + hostport
	s.ws = "ws://" + hostport
	s.host, _, _ = net.SplitHostPort(hostport)
}

// attachServer describes the running server of o.URL.
func attachServer(o *Options) (*server, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url %q is not a base URL like http://127.0.0.1:8080", o.URL)
	}
	if o.Data == "" {
		return nil, errors.New("--url needs --data, the server's data directory (for its admin socket and customer secret)")
	}
	key, err := os.ReadFile(filepath.Join(o.Data, "customer-secret"))
	if err != nil {
		return nil, fmt.Errorf("customer secret: %w", err)
	}
	s := &server{data: o.Data, custKey: []byte(strings.TrimSpace(string(key))), pid: o.ServerPID}
	s.setAddr(u.Host)
	return s, nil
}

// stop ends the child (SIGTERM, then SIGKILL) and removes a temporary data
// directory.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if s.ownedData {
		_ = os.RemoveAll(s.data)
	}
}

// waitReady polls /readyz until it answers 200.
func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(s.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.exited:
			return errors.New("server exited")
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// rss returns the server's resident memory in bytes, or 0 if unknown.
func (s *server) rss() int64 {
	if s.pid == 0 {
		return 0
	}
	return processRSS(s.pid)
}

// processRSS reads VmRSS of a process from /proc.
func processRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kib, _ := strconv.ParseInt(f[0], 10, 64)
				return kib << 10
			}
		}
	}
	return 0
}

// customerToken signs a token for a simulated customer.
func (s *server) customerToken(id string) (string, error) {
	return auth.SignCustomer(s.custKey, parley.Customer{ID: id, Name: id}, 2*time.Hour, time.Now())
}

// agentAcct is a simulated agent's account.
type agentAcct struct {
	id, email, token string
}

// addAgents creates n agents with the given capacity through the admin
// socket and gets each a token, signed directly when the agent secret is
// known and by logging in otherwise.
func (s *server) addAgents(ctx context.Context, prefix string, n, capacity int) ([]agentAcct, error) {
	admin := httpapi.DialAdmin(filepath.Join(s.data, "admin.sock"))
	pw := randomHex(12)
	accts := make([]agentAcct, n)
	err := parallel(ctx, n, 4, func(i int) error {
		email := fmt.Sprintf("%s-%d-%s@bench.invalid", prefix, i, randomHex(3))
		res, err := admin.Do(ctx, "agent.add", map[string]any{
			"name": fmt.Sprintf("Agent %d", i), "email": email, "capacity": capacity, "password": pw,
		})
		if err != nil {
			return fmt.Errorf("agent.add: %w", err)
		}
		var row struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(res, &row); err != nil {
			return err
		}
		accts[i] = agentAcct{id: row.ID, email: email}
		if s.agentKey != nil {
			accts[i].token, _, err = auth.SignAgent(s.agentKey, row.ID, 2*time.Hour, time.Now())
			return err
		}
		accts[i].token, err = s.login(ctx, email, pw, i)
		return err
	})
	return accts, err
}

// login gets an agent token over HTTP. Logins are rate-limited per client
// address, so on loopback each batch of agents logs in from its own
// 127.0.0.x address.
func (s *server) login(ctx context.Context, email, pw string, i int) (string, error) {
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: s.localAddr(i / 8)}).DialContext}
	defer tr.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/v1/agent/login", strings.NewReader(string(body)))
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token   string `json:"token"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("login %s: HTTP %d %s", email, resp.StatusCode, out.Message)
	}
	return out.Token, nil
}

// localAddr spreads client connections over loopback source addresses
// (127.0.0.2 and up) when the server is on loopback, so that tens of
// thousands of connections do not run out of ephemeral ports and
// per-address limits do not apply to the whole benchmark.
func (s *server) localAddr(i int) *net.TCPAddr {
	ip := net.ParseIP(s.host)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+(i/250)%250), byte(2+i%250))}
}

// dialer returns a WebSocket dialer with small buffers, for the i-th
// connection.
func (s *server) dialer(i int) *websocket.Dialer {
	return &websocket.Dialer{
		NetDialContext:   (&net.Dialer{LocalAddr: s.localAddr(i)}).DialContext,
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
	}
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					errOnce.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// status prints a one-line live status, overwritten in place.
type status struct {
	w    io.Writer
	mu   sync.Mutex
	last int
}

func (s *status) printf(format string, args ...any) {
	if s == nil || s.w == nil {
		return
	}
	line := fmt.Sprintf(format, args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	pad := ""
	if n := s.last - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	s.last = len(line)
	fmt.Fprintf(s.w, "\r%s%s", line, pad)
}

// done ends the status line.
func (s *status) done() {
	if s == nil || s.w == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last > 0 {
		fmt.Fprintf(s.w, "\r%s\r", strings.Repeat(" ", s.last))
		s.last = 0
	}
}

// ticker calls fn every interval until stop is closed.
func ticker(interval time.Duration, stop <-chan struct{}, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			fn()
		case <-stop:
			return
		}
	}
}
