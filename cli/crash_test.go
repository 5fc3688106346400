package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
)

// Sizes of the crash test.
const (
	crashWindow    = 8   // messages in flight per sender
	crashKillAfter = 400 // acknowledged messages before the kill
)

// proc is a parley serve child process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	out    *syncBuffer
	errOut *syncBuffer
	exited chan struct{}
}

// childEnv is the test's environment without PARLEY_ variables, so that
// the caller's settings cannot leak into the child.
func childEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			out = append(out, kv)
		}
	}
	return out
}

// startProc starts bin serve on data and waits for its listening line. The
// child is killed when the test ends.
func startProc(t *testing.T, bin, data string) *proc {
	t.Helper()
	p := &proc{out: newSyncBuffer(), errOut: newSyncBuffer(), exited: make(chan struct{})}
	// The load is the point here: lift the message and frame rates.
	p.cmd = exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn", "--send-rate", "0", "--command-rate", "0")
	p.cmd.Env = childEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(waitTime):
			t.Errorf("child %d did not exit after SIGKILL", p.cmd.Process.Pid)
		}
	})
	p.addr = p.out.waitMatch(t, listenRe, p.exited)[1]
	return p
}

// kill sends SIGKILL and waits for the child to die.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Kill())
	select {
	case <-p.exited:
	case <-time.After(waitTime):
		t.Fatal("child did not die after SIGKILL")
	}
}

// runBin runs the binary to completion with stdin.
func runBin(t *testing.T, bin, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "parley %s did not finish in time", strings.Join(args, " "))
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		require.True(t, ok, "run parley: %v", err)
		code = ee.ExitCode()
	}
	return result{code: code, out: out.String(), err: errOut.String()}
}

// sender sends numbered messages into one session with up to crashWindow
// of them unacknowledged, and records what it sent and what was acked.
type sender struct {
	name    string
	session string
	client  *wsClient
	agent   bool // agents name the session in each send
	slots   chan struct{}

	mu    sync.Mutex
	sent  []string          // client_msg_ids in send order
	acked map[string]uint64 // client_msg_id -> seq of its sent frame
	errs  []string
}

func newSender(name, session string, c *wsClient, agent bool) *sender {
	s := &sender{name: name, session: session, client: c, agent: agent,
		slots: make(chan struct{}, crashWindow), acked: map[string]uint64{}}
	for range crashWindow {
		s.slots <- struct{}{}
	}
	return s
}

// run sends until stop is closed or the connection fails.
func (s *sender) run(stop <-chan struct{}) {
	for i := 1; ; i++ {
		select {
		case <-s.slots:
		case <-stop:
			return
		}
		cmid := fmt.Sprintf("%s-%06d", s.name, i)
		f := frame{"type": "send", "text": cmid, "client_msg_id": cmid}
		if s.agent {
			f["session_id"] = s.session
		}
		// Recorded before the write: once written it may be stored.
		s.mu.Lock()
		s.sent = append(s.sent, cmid)
		s.mu.Unlock()
		if s.client.send(f) != nil {
			return
		}
	}
}

// ack records a sent frame and frees a slot.
func (s *sender) ack(f frame) {
	s.mu.Lock()
	cmid := f.str("client_msg_id")
	if _, dup := s.acked[cmid]; dup {
		s.errs = append(s.errs, "second ack for "+cmid)
	}
	s.acked[cmid] = uint64(f.num("seq"))
	s.mu.Unlock()
	select {
	case s.slots <- struct{}{}:
	default: // only after a second ack, recorded above
	}
}

// route reads a connection's frames until it closes and hands each sent
// frame to the sender named by its client_msg_id's prefix.
func route(c *wsClient, senders map[string]*sender, total *atomic.Int64, reached chan struct{}, once *sync.Once, errs chan<- string) {
	for {
		select {
		case f := <-c.frames:
			switch f.str("type") {
			case "sent":
				cmid := f.str("client_msg_id")
				s := senders[cmid[:strings.LastIndexByte(cmid, '-')]]
				if s == nil {
					errs <- fmt.Sprintf("sent frame for unknown sender: %v", f)
					continue
				}
				s.ack(f)
				if total.Add(1) == crashKillAfter {
					once.Do(func() { close(reached) })
				}
			case "error":
				errs <- fmt.Sprintf("error frame before the kill: %v", f)
			}
		case <-c.closed:
			return
		}
	}
}

// allEvents pages a session's events backwards over HTTP with a customer
// token and returns them oldest first.
func allEvents(t *testing.T, addr, token, session string) []parley.Event {
	t.Helper()
	client := &http.Client{Timeout: waitTime}
	var all []parley.Event
	before := uint64(0)
	for page := 0; ; page++ {
		require.Less(t, page, 1000, "too many pages")
		url := fmt.Sprintf("http://%s/v1/customer/sessions/%s/events?limit=%d", addr, session, parley.MaxHistoryLimit)
		if before > 0 {
			url += fmt.Sprintf("&before_seq=%d", before)
		}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		require.NoError(t, err)
		var h parley.HistoryFrame
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, err)
		all = append(h.Events, all...)
		if !h.More {
			return all
		}
		require.NotEmpty(t, h.Events)
		before = h.Events[0].Seq
	}
}

// checkSession checks a session's events after the crash against what its
// senders sent and had acknowledged, and returns the highest seq.
func checkSession(t *testing.T, events []parley.Event, senders []*sender) uint64 {
	t.Helper()
	require.NotEmpty(t, events)
	for i, ev := range events {
		require.Equal(t, uint64(i+1), ev.Seq, "seqs must be 1..N without gaps")
	}
	stored := map[string][]parley.Event{} // sender name -> its messages in seq order
	for _, ev := range events {
		if ev.Kind != parley.KindMessage {
			continue
		}
		assert.Equal(t, ev.Text, ev.ClientMsgID)
		name := ev.Text[:strings.LastIndexByte(ev.Text, '-')]
		stored[name] = append(stored[name], ev)
	}
	for _, s := range senders {
		s.mu.Lock()
		got := stored[s.name]
		// The stored messages are exactly the first len(got) sent, in order,
		// each once: a group commit is atomic and batches commit in order.
		require.LessOrEqual(t, len(got), len(s.sent), "%s: more stored than sent", s.name)
		for i, ev := range got {
			require.Equal(t, s.sent[i], ev.ClientMsgID, "%s: message %d out of order or duplicated", s.name, i)
		}
		// Every acknowledged message is stored, with its acknowledged seq.
		bySeq := map[string]uint64{}
		for _, ev := range got {
			bySeq[ev.ClientMsgID] = ev.Seq
		}
		for cmid, seq := range s.acked {
			require.Contains(t, bySeq, cmid, "%s: acknowledged message lost", s.name)
			require.Equal(t, seq, bySeq[cmid], "%s: %s stored with another seq than acked", s.name, cmid)
		}
		require.GreaterOrEqual(t, len(got), len(s.acked))
		require.Empty(t, s.errs)
		t.Logf("%s: sent %d, acked %d, stored %d", s.name, len(s.sent), len(s.acked), len(got))
		s.mu.Unlock()
	}
	return events[len(events)-1].Seq
}

// TestCrashKill9 kills a busy server with SIGKILL and checks after a
// restart that every acknowledged message survived exactly once, in order,
// that the queue kept its order, and that re-sending is idempotent.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "parley")
	bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(bctx, "go", "build", "-o", bin, "github.com/parley-chat/parley")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	data := t.TempDir()
	p := startProc(t, bin, data)
	require.Contains(t, p.out.String(), "Created the first agent")

	// An agent added through the binary, online.
	r := runBin(t, bin, "pw-bob-secret-1\n", "agent", "add", "--data", data, "--name", "Bob", "--email", "bob@example.com",
		"--capacity", "3", "--password-stdin")
	require.Equal(t, 0, r.code, r.err)
	r = runBin(t, bin, "", "agent", "ls", "--json", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	var rows []admin.AgentRow
	require.NoError(t, json.Unmarshal([]byte(r.out), &rows))
	require.Len(t, rows, 2)
	for _, row := range rows {
		assert.Equal(t, "offline", row.Status, "served by the running server")
	}

	status, agentToken := login(t, p.addr, "bob@example.com", "pw-bob-secret-1")
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, p.addr, agentToken)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "st"})
	require.Equal(t, "available", ag.expectRe("st").str("status"))

	secretRaw, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	secret := bytes.TrimSpace(secretRaw)
	token := func(id string) string {
		tok, err := auth.SignCustomer(secret, customer(id), time.Hour, time.Now())
		require.NoError(t, err)
		return tok
	}

	// Three customers fill Bob's three slots, one at a time so that the
	// assignment order is known; two more wait in the queue.
	active := []string{"c-1", "c-2", "c-3"}
	queued := []string{"q-1", "q-2"}
	sessions := map[string]string{} // customer -> session
	clients := map[string]*wsClient{}
	for _, id := range active {
		c, _ := customerWS(t, p.addr, token(id))
		c.mustSend(frame{"type": "start", "req": "start"})
		sess := c.expectRe("start").obj("session")
		sessions[id], clients[id] = sess.str("id"), c
		as := ag.expect("assigned")
		require.Equal(t, sess.str("id"), as.obj("session").str("id"))
	}
	for i, id := range queued {
		c, _ := customerWS(t, p.addr, token(id))
		c.mustSend(frame{"type": "start", "req": "start"})
		sess := c.expectRe("start").obj("session")
		require.Equal(t, "queued", sess.str("state"))
		require.Equal(t, i+1, sess.num("position"))
		sessions[id], clients[id] = sess.str("id"), c
	}

	// Senders: every customer, and Bob in each of his sessions.
	senders := map[string]*sender{}
	bySession := map[string][]*sender{}
	add := func(s *sender) {
		senders[s.name] = s
		bySession[s.session] = append(bySession[s.session], s)
	}
	for _, id := range append(append([]string{}, active...), queued...) {
		add(newSender(id, sessions[id], clients[id], false))
	}
	for i, id := range active {
		add(newSender(fmt.Sprintf("a-%d", i+1), sessions[id], ag, true))
	}

	var total atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	frameErrs := make(chan string, 1024)
	var routers, sending sync.WaitGroup
	for _, c := range append([]*wsClient{ag}, clientsOf(clients)...) {
		routers.Go(func() { route(c, senders, &total, reached, &once, frameErrs) })
	}
	stop := make(chan struct{})
	for _, s := range senders {
		sending.Go(func() { s.run(stop) })
	}

	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d messages acknowledged in 30s", total.Load())
	}
	p.kill(t)
	close(stop)
	waitGroup(t, &sending, "senders")
	waitGroup(t, &routers, "readers")
	close(frameErrs)
	for e := range frameErrs {
		t.Error(e)
	}
	inFlight := 0
	for _, s := range senders {
		inFlight += len(s.sent) - len(s.acked)
	}
	t.Logf("killed after %d acks with %d messages unacknowledged", total.Load(), inFlight)

	// With the server dead, admin commands work on the file despite the
	// stale socket.
	r = runBin(t, bin, "", "agent", "ls", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	assert.Contains(t, r.out, "(server stopped)")

	p = startProc(t, bin, data)
	assert.NotContains(t, p.out.String(), "Created the first agent")

	lastSeq := map[string]uint64{}
	for id, sid := range sessions {
		lastSeq[sid] = checkSession(t, allEvents(t, p.addr, token(id), sid), bySession[sid])
	}

	// The queue kept its order; the assigned sessions are still active.
	for i, id := range queued {
		c, w := customerWS(t, p.addr, token(id))
		clients[id] = c
		open := w.obj("open_session")
		require.Equal(t, sessions[id], open.str("id"))
		assert.Equal(t, "queued", open.str("state"))
		assert.Equal(t, i+1, open.num("position"), "%s keeps its place in the queue", id)
	}
	for _, id := range active {
		c, w := customerWS(t, p.addr, token(id))
		clients[id] = c
		open := w.obj("open_session")
		require.Equal(t, sessions[id], open.str("id"))
		assert.Equal(t, "active", open.str("state"))
	}

	// Re-sending is idempotent across the restart: an acknowledged message
	// answers with its original seq, an unacknowledged one is stored at
	// most once.
	status, agentToken = login(t, p.addr, "bob@example.com", "pw-bob-secret-1")
	require.Equal(t, http.StatusOK, status)
	ag, _ = agentWS(t, p.addr, agentToken)
	for name, s := range senders {
		id, c, sid := name, clients[name], s.session
		if s.agent {
			id, c = active[name[len("a-")]-'1'], ag
		}
		s.client = c
		s.mu.Lock()
		first := s.sent[0]
		firstSeq, firstAcked := s.acked[first]
		var unacked string
		if len(s.acked) < len(s.sent) {
			unacked = s.sent[len(s.acked)]
		}
		s.mu.Unlock()
		events := allEvents(t, p.addr, token(id), sid)
		storedSeq := map[string]uint64{}
		for _, ev := range events {
			storedSeq[ev.ClientMsgID] = ev.Seq
		}

		resend := func(cmid, req string) {
			f := frame{"type": "send", "text": cmid, "client_msg_id": cmid, "req": req}
			if s.agent {
				f["session_id"] = sid
			}
			c.mustSend(f)
		}
		if firstAcked {
			resend(first, "again")
			f := c.expectRe("again")
			require.Equal(t, "sent", f.str("type"), "%v", f)
			assert.Equal(t, int(firstSeq), f.num("seq"))
			assert.Equal(t, true, f["duplicate"])
		}
		if unacked == "" {
			continue
		}
		resend(unacked, "retry")
		f := c.expectRe("retry")
		require.Equal(t, "sent", f.str("type"), "%v", f)
		if seq, ok := storedSeq[unacked]; ok {
			assert.Equal(t, int(seq), f.num("seq"), "%s was stored before the crash", unacked)
			assert.Equal(t, true, f["duplicate"])
		} else {
			assert.Greater(t, f.num("seq"), int(lastSeq[sid]), "%s is stored now", unacked)
			assert.Nil(t, f["duplicate"])
			lastSeq[sid] = uint64(f.num("seq"))
		}
		t.Logf("%s: re-sent %s got seq %d duplicate=%v", name, unacked, f.num("seq"), f["duplicate"])
		n := 0
		after := allEvents(t, p.addr, token(id), sid)
		for i, ev := range after {
			require.Equal(t, uint64(i+1), ev.Seq)
			if ev.ClientMsgID == unacked {
				n++
			}
		}
		assert.Equal(t, 1, n, "%s stored exactly once", unacked)
	}
}

func clientsOf(m map[string]*wsClient) []*wsClient {
	out := make([]*wsClient, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	return out
}

// waitGroup waits for wg with a deadline.
func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTime):
		t.Fatalf("%s did not stop within %s", what, waitTime)
	}
}
