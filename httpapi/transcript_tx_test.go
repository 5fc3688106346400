package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

// seedTranscript stores an ended session of customerID with n events
// through storage: a queued event, then messages of about textLen bytes,
// every seventh a whisper of agentID, who was in the session.
func seedTranscript(t *testing.T, h *harness, customerID, agentID string, n, textLen int) string {
	t.Helper()
	now := parley.TimeOf(h.clock.now())
	r := &parley.SessionRecord{
		ID: parley.NewID(now.Time), State: parley.StateEnded, Customer: parley.Customer{ID: customerID, Name: "Slow reader"},
		Agents: []parley.AgentRef{}, Participants: []string{agentID}, CreatedAt: now, QueuedAt: now,
		EndedAt: now, EndReason: parley.EndCustomer,
	}
	cust := parley.Participant{Role: parley.RoleCustomer, ID: customerID}
	agent := parley.Participant{Role: parley.RoleAgent, ID: agentID, Name: "Ann"}
	filler := strings.Repeat("x", textLen)
	const perTx = 2000
	for start := 0; start < n; start += perTx {
		require.NoError(t, h.db.Update(context.Background(), func(tx *storage.Tx) error {
			if start == 0 {
				if err := tx.PutSession(r); err != nil {
					return err
				}
			}
			for i := start; i < min(n, start+perTx); i++ {
				ev := &parley.Event{Kind: parley.KindMessage, From: cust, Text: fmt.Sprintf("message %d %s", i+1, filler)}
				switch {
				case i == 0:
					ev = &parley.Event{Kind: parley.KindQueued, From: cust}
				case i%7 == 0:
					ev = &parley.Event{Kind: parley.KindMessage, From: agent, Whisper: true, Text: fmt.Sprintf("whisper %d", i+1)}
				}
				if _, err := tx.Append(r.ID, ev); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	return r.ID
}

// agentID returns the id of the test agent called name.
func agentID(t *testing.T, h *harness, name string) string {
	t.Helper()
	var id string
	require.NoError(t, h.db.View(func(tx *storage.Tx) error {
		a, err := tx.AgentByEmail(strings.ToLower(name) + "@example.com")
		if err == nil {
			id = a.ID
		}
		return err
	}))
	return id
}

// slowGet sends GET path over a raw connection whose receive buffer is
// small, reads the response head and the first readFirst bytes of its
// body, and returns the body with those bytes put back in front of the
// rest, which is unread: the server's writes block once the socket
// buffers are full.
func slowGet(t *testing.T, h *harness, path, token string, readFirst int) io.Reader {
	t.Helper()
	// The receive buffer is set before connecting: shrinking it on an
	// open connection stalls TCP in retransmission backoff, and left to
	// autotuning it may grow to tens of MiB and take the whole body.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := d.Dial("tcp", h.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	require.NoError(t, req.Write(conn))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	first := make([]byte, readFirst)
	_, err = io.ReadFull(resp.Body, first)
	require.NoError(t, err)
	return io.MultiReader(bytes.NewReader(first), resp.Body)
}

// waitNoReadTx polls until storage has no read transaction open.
func waitNoReadTx(t *testing.T, h *harness, why string) {
	t.Helper()
	require.Eventually(t, func() bool { return h.db.OpenReadTxs() == 0 }, waitTime, time.Millisecond,
		"a read transaction stays open %s: %d open", why, h.db.OpenReadTxs())
}

// TestTranscriptSlowReaderHoldsNoReadTx downloads a transcript of 20,000
// events of about 1 KiB (some 20 MiB, far more than the socket buffers
// hold) with a client that reads 64 KiB and then stops, for a customer
// and for an agent. While the server is blocked writing to it, storage
// has no read transaction open: a slow reader cannot stall the writer
// (bbolt's remap waits for every reader) or pin freed pages. The old
// code streamed from one read transaction and kept it open until the
// client had read everything. Events appended meanwhile stay out of the
// transcript; once the client reads on, it gets every event exactly once
// in order.
func TestTranscriptSlowReaderHoldsNoReadTx(t *testing.T) {
	h := newHarness(t)
	h.putAgent("Ann", 1)
	ann := agentID(t, h, "Ann")
	const n = 20000
	sid := seedTranscript(t, h, "u-slow", ann, n, 1024)
	for _, tc := range []struct {
		name, token string
		whispers    bool
	}{
		{"customer", h.customerToken("u-slow"), false},
		{"agent", h.login("Ann"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last uint64
			require.NoError(t, h.db.View(func(tx *storage.Tx) error {
				var err error
				last, err = tx.LastSeq(sid)
				return err
			}))
			body := slowGet(t, h, "/v1/customer/sessions/"+sid+"/transcript?format=json", tc.token, 64<<10)
			waitNoReadTx(t, h, "while the client is stalled mid-transcript")
			// Writes go through while the client is stalled, and what
			// they append is not part of this transcript.
			require.NoError(t, h.db.Update(context.Background(), func(tx *storage.Tx) error {
				_, err := tx.Append(sid, &parley.Event{Kind: parley.KindMessage, Text: "after the download began",
					From: parley.Participant{Role: parley.RoleCustomer, ID: "u-slow"}})
				return err
			}))

			var doc struct {
				Session parley.Session `json:"session"`
				Events  []parley.Event `json:"events"`
			}
			dec := json.NewDecoder(body)
			require.NoError(t, dec.Decode(&doc))
			rest, err := io.ReadAll(io.MultiReader(dec.Buffered(), body))
			require.NoError(t, err)
			assert.Equal(t, "\n", string(rest))
			want := []uint64{}
			for seq := uint64(1); seq <= last; seq++ {
				if tc.whispers || seq == 1 || seq > n || (seq-1)%7 != 0 {
					want = append(want, seq)
				}
			}
			got := make([]uint64, len(doc.Events))
			for i, ev := range doc.Events {
				got[i] = ev.Seq
			}
			require.Equal(t, want, got, "every event the viewer may see, once, in order, and none appended later")
			assert.Equal(t, last, doc.Session.LastSeq, "last_seq is pinned at the start")
		})
	}
}

// TestTranscriptPurgedMidDownload purges the session while its
// transcript's client is stalled: the server neither panics nor makes
// up a complete transcript. The client gets the events read before the
// purge and then an unexpected EOF, the body's end never being sent, and
// the session is gone afterwards. (The old code streamed the snapshot of
// its one read transaction to the end.)
func TestTranscriptPurgedMidDownload(t *testing.T) {
	h := newHarness(t)
	const n = 20000
	sid := seedTranscript(t, h, "u-purged", "nobody", n, 1024)
	tok := h.customerToken("u-purged")
	body := slowGet(t, h, "/v1/customer/sessions/"+sid+"/transcript?format=json", tok, 64<<10)
	waitNoReadTx(t, h, "while the client is stalled mid-transcript")
	require.NoError(t, h.db.Update(context.Background(), func(tx *storage.Tx) error { return tx.DeleteSession(sid) }))

	got, err := io.ReadAll(body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "the cut is visible to the client")
	entries := bytes.Count(got, []byte(`"seq":`))
	assert.Greater(t, entries, 0)
	assert.Less(t, entries, n*6/7, "events were read after the purge")
	assert.False(t, bytes.HasSuffix(got, []byte("]}\n")), "the transcript looks complete")
	code, _, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=json", tok)
	assert.Equal(t, http.StatusNotFound, code)
	code, _, _ = h.get("/healthz", "")
	assert.Equal(t, http.StatusOK, code)
}

// TestTranscriptFormatsAcrossPages exports a session of several pages
// in every format, for the customer and for an agent: each has every
// event the viewer may see once, in seq order, across the page
// boundaries, whispers only in the agent's copy.
func TestTranscriptFormatsAcrossPages(t *testing.T) {
	h := newHarness(t)
	h.putAgent("Ann", 1)
	const n = 700 // 256 events a page
	sid := seedTranscript(t, h, "u-pages", agentID(t, h, "Ann"), n, 16)
	entry := regexp.MustCompile(`(?m)^\[[^\]]+\] #(\d+) `)
	for _, tc := range []struct {
		name, token string
		whispers    bool
	}{
		{"customer", h.customerToken("u-pages"), false},
		{"agent", h.login("Ann"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := []string{}
			for seq := 1; seq <= n; seq++ {
				if tc.whispers || seq == 1 || (seq-1)%7 != 0 {
					want = append(want, fmt.Sprint(seq))
				}
			}
			code, txt, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=txt", tc.token)
			require.Equal(t, http.StatusOK, code)
			got := []string{}
			for _, m := range entry.FindAllStringSubmatch(string(txt), -1) {
				got = append(got, m[1])
			}
			assert.Equal(t, want, got, "txt")

			code, body, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=json", tc.token)
			require.Equal(t, http.StatusOK, code)
			var doc struct{ Events []parley.Event }
			require.NoError(t, json.Unmarshal(body, &doc))
			got = got[:0]
			for _, ev := range doc.Events {
				got = append(got, fmt.Sprint(ev.Seq))
			}
			assert.Equal(t, want, got, "json")

			code, html, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=html", tc.token)
			require.Equal(t, http.StatusOK, code)
			assert.Equal(t, len(want), bytes.Count(html, []byte("<li class=")), "html")
			assert.True(t, bytes.HasSuffix(html, []byte("</html>\n")))

			code, pdf, _ := h.get("/v1/customer/sessions/"+sid+"/transcript?format=pdf", tc.token)
			require.Equal(t, http.StatusOK, code, "%s", pdf)
			require.True(t, bytes.HasPrefix(pdf, []byte("%PDF-")))
			assert.Equal(t, 0, h.db.OpenReadTxs())
			if _, err := exec.LookPath("pdftotext"); err == nil {
				text := pdfText(t, pdf)
				assert.Contains(t, text, fmt.Sprintf("#%s ", want[len(want)-1]), "the PDF has the last page's events")
				assert.Equal(t, tc.whispers, strings.Contains(text, "whisper 8"), "whispers only for agents")
			}
		})
	}
}
