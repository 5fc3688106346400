package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/admin"
	"github.com/parley-chat/parley/auth"
	"github.com/parley-chat/parley/notify"
)

// TestWebhookDeliverySurvivesKill9 kills the server with SIGKILL while a
// webhook delivery is in flight: after the restart every delivery arrives,
// in order, the interrupted one again with the same id, so the receiver
// drops nothing and processes nothing twice.
func TestWebhookDeliverySurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "parley")
	bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(bctx, "go", "build", "-o", bin, "github.com/parley-chat/parley").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	inside := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var requests []string
	var processed []notify.WebhookBody
	seen := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		id := r.Header.Get(notify.HeaderDelivery)
		mu.Lock()
		requests = append(requests, id)
		first := len(requests) == 1
		mu.Unlock()
		if first {
			// Hang until the server dies mid-delivery.
			once.Do(func() { close(inside) })
			<-r.Context().Done()
			return
		}
		var wb notify.WebhookBody
		if json.Unmarshal(b, &wb) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		if !seen[id] {
			seen[id] = true
			processed = append(processed, wb)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	data := t.TempDir()
	p := startProc(t, bin, data)
	r := runBin(t, bin, "", "webhook", "add", recv.URL, "--events", "message", "--secret", "0123456789abcdef", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	secret, err := os.ReadFile(filepath.Join(data, "customer-secret"))
	require.NoError(t, err)
	tok, err := auth.SignCustomer(bytes.TrimSpace(secret), customer("k-1"), time.Hour, time.Now())
	require.NoError(t, err)
	c, _ := customerWS(t, p.addr, tok)
	c.mustSend(frame{"type": "start", "req": "s"})
	c.expectRe("s")
	for _, text := range []string{"one", "two", "three"} {
		c.mustSend(frame{"type": "send", "text": text, "client_msg_id": text, "req": text})
		require.Equal(t, "sent", c.expectRe(text).str("type"))
	}
	select {
	case <-inside:
	case <-time.After(waitTime):
		t.Fatal("the first delivery never arrived")
	}
	p.kill(t)

	r = runBin(t, bin, "", "webhook", "deliveries", "--json", "--data", data)
	require.Equal(t, 0, r.code, r.err)
	var rows []admin.JobRow
	require.NoError(t, json.Unmarshal([]byte(r.out), &rows))
	require.Len(t, rows, 3)
	for _, row := range rows {
		require.Equal(t, "pending", row.State, "nothing was recorded as sent: %+v", row)
	}

	startProc(t, bin, data)
	poll(t, "the receiver to process 3 deliveries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(processed) == 3
	})
	mu.Lock()
	defer mu.Unlock()
	for i, want := range []string{"one", "two", "three"} {
		require.Equal(t, want, processed[i].Event.Text)
	}
	require.Len(t, requests, 4, "the interrupted delivery is made again, the others once")
	require.Equal(t, requests[0], requests[1], "with the same delivery id")
}
