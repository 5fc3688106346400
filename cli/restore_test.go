package cli_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/parley"
)

// loadSender sends messages into a session one after another, each after
// the previous one's acknowledgement, and records what was acknowledged.
type loadSender struct {
	c      *wsClient
	prefix string
	sid    string
	mu     sync.Mutex
	acked  []string
	err    error
}

func (s *loadSender) run(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		id := fmt.Sprintf("%s-%d", s.prefix, n)
		if err := s.c.send(frame{"type": "send", "session_id": s.sid, "text": id, "client_msg_id": id, "req": id}); err != nil {
			s.fail(err)
			return
		}
		f, err := s.c.wc.WaitFor(waitTime, "ack "+id, func(f frame) bool { return f.str("re") == id })
		if err == nil && f.str("type") != "sent" {
			err = fmt.Errorf("send %s answered %v", id, f)
		}
		if err != nil {
			s.fail(err)
			return
		}
		s.mu.Lock()
		s.acked = append(s.acked, id)
		s.mu.Unlock()
	}
}

func (s *loadSender) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *loadSender) snapshot() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...), s.err
}

// TestRestoreDrill is docs/deploy.md's restore drill under load: while a
// customer and an agent write as fast as acknowledgements allow, parley
// backup takes a hot copy; parley check passes it; restored into a new
// data directory (the database and the customer secret) it is served
// again, and its transcript holds every message acknowledged before the
// backup began, once each, in an unbroken sequence.
func TestRestoreDrill(t *testing.T) {
	data := t.TempDir()
	// No send limit: the customer writes as fast as acknowledgements allow.
	s := startServe(t, env{}, "--data", data, "--send-rate", "0")
	m := s.out.waitMatch(t, firstAgentRe, s.done)
	email, password := m[1], "drill-chosen-password"
	status, atok := changePassword(t, s.addr, email, m[2], password)
	require.Equal(t, http.StatusOK, status)
	ag, _ := agentWS(t, s.addr, atok)
	ag.mustSend(frame{"type": "status", "status": "available", "req": "av"})
	ag.expectRe("av")
	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), customer("drill-1"), time.Hour, time.Now())
	require.NoError(t, err)
	cust, _ := customerWS(t, s.addr, tok)
	cust.mustSend(frame{"type": "start", "req": "s"})
	sid := cust.expectRe("s").obj("session").str("id")
	require.Equal(t, sid, ag.expect("assigned").obj("session").str("id"))

	senders := []*loadSender{{c: cust, prefix: "c", sid: sid}, {c: ag, prefix: "a", sid: sid}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, snd := range senders {
		wg.Add(1)
		go snd.run(stop, &wg)
	}
	// waitAcked waits until every sender has n more acknowledgements.
	waitAcked := func(n int) {
		t.Helper()
		var base []int
		for _, snd := range senders {
			a, _ := snd.snapshot()
			base = append(base, len(a))
		}
		require.Eventually(t, func() bool {
			for i, snd := range senders {
				a, err := snd.snapshot()
				if err != nil || len(a) < base[i]+n {
					return err != nil
				}
			}
			return true
		}, waitTime, time.Millisecond)
	}
	waitAcked(20)
	var before []string
	for _, snd := range senders {
		a, err := snd.snapshot()
		require.NoError(t, err)
		before = append(before, a...)
	}
	file := filepath.Join(t.TempDir(), "parley-backup.db")
	assert.Contains(t, runOK(t, env{}, "", "backup", file, "--data", data), "Backed up")
	waitAcked(20) // still flowing after the backup
	close(stop)
	wg.Wait()
	for _, snd := range senders {
		_, err := snd.snapshot()
		require.NoError(t, err)
	}
	assert.Contains(t, runOK(t, env{}, "", "check", file), "OK\n")

	// The drill: a new data directory with the backup and the secret,
	// served on another port while the original still runs.
	restored := t.TempDir()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(restored, "parley.db"), raw, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(restored, "customer-secret"), secret, 0o600))
	r := startServe(t, env{}, "--data", restored)
	status, _ = login(t, r.addr, email, password)
	require.Equal(t, http.StatusOK, status, "the agent signs in to the restored server with its password")
	events := allEvents(t, r.addr, tok, sid)
	seen := map[string]int{}
	for i, ev := range events {
		require.Equal(t, uint64(i+1), ev.Seq, "the restored sequence is unbroken")
		if ev.Kind == parley.KindMessage {
			seen[ev.ClientMsgID]++
		}
	}
	for _, id := range before {
		assert.Equal(t, 1, seen[id], "message %s, acknowledged before the backup, in the restored copy", id)
	}
	for id, n := range seen {
		assert.Equal(t, 1, n, "message %s stored %d times", id, n)
	}
	// And the restored server chats: the session goes on.
	rc, _ := customerWS(t, r.addr, tok)
	rc.mustSend(frame{"type": "send", "session_id": sid, "text": "after the restore", "client_msg_id": "after", "req": "after"})
	assert.Equal(t, "sent", rc.expectRe("after").str("type"))
}
