package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/notify"
	"github.com/parley-chat/parley/parley"
	"github.com/parley-chat/parley/storage"
)

const hookSecret = "s3cret"

// receiver is a webhook receiver that checks signatures, records every
// request and processes each delivery id once.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	// answer decides the status of the n-th request (0-based); nil: 204.
	answer func(n int, r *http.Request) int
	now    func() time.Time

	mu        sync.Mutex
	requests  []string // delivery ids, every request
	processed []notify.WebhookBody
	seen      map[string]bool
	badSig    int
	ch        chan struct{}
}

func startReceiver(t *testing.T, now func() time.Time) *receiver {
	rc := &receiver{t: t, seen: make(map[string]bool), ch: make(chan struct{}, 1000), now: now}
	if rc.now == nil {
		rc.now = time.Now
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	id := r.Header.Get(notify.HeaderDelivery)
	rc.mu.Lock()
	n := len(rc.requests)
	rc.requests = append(rc.requests, id)
	rc.mu.Unlock()
	defer func() { rc.ch <- struct{}{} }()
	if err := notify.Verify([]byte(hookSecret), r.Header.Get(notify.HeaderSignature), b, rc.now(), 5*time.Minute); err != nil {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.answer != nil {
		if code := rc.answer(n, r); code != 0 && code != http.StatusNoContent {
			w.WriteHeader(code)
			return
		}
	}
	var wb notify.WebhookBody
	if err := json.Unmarshal(b, &wb); err != nil || wb.ID != id {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	if !rc.seen[id] {
		rc.seen[id] = true
		rc.processed = append(rc.processed, wb)
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (requests []string, processed []notify.WebhookBody, badSig int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.requests...), append([]notify.WebhookBody(nil), rc.processed...), rc.badSig
}

func (rc *receiver) waitProcessed(t *testing.T, n int) []notify.WebhookBody {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if _, p, _ := rc.snapshot(); len(p) >= n {
			return p
		}
		select {
		case <-rc.ch:
		case <-deadline:
			_, p, _ := rc.snapshot()
			t.Fatalf("receiver processed %d deliveries, want %d", len(p), n)
		}
	}
}

func addHook(t *testing.T, db *storage.DB, url string, events ...string) *storage.Webhook {
	t.Helper()
	h := &storage.Webhook{ID: parley.NewID(time.Now()), URL: url, Events: events, Secret: hookSecret}
	if err := db.Update(context.Background(), func(tx *storage.Tx) error { return tx.PutWebhook(h) }); err != nil {
		t.Fatal(err)
	}
	return h
}

// appendMessages stores messages in a session and, in the same
// transaction, their webhook deliveries, as the hub does.
func appendMessages(t *testing.T, db *storage.DB, svc *notify.Service, sid string, texts ...string) {
	t.Helper()
	err := db.Update(context.Background(), func(tx *storage.Tx) error {
		from := tx.AppendedCount()
		for _, text := range texts {
			if _, err := tx.Append(sid, &parley.Event{Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleAgent, ID: "a1"}, Text: text}); err != nil {
				return err
			}
		}
		_, err := svc.Appended(tx, from)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	svc.Kick()
}

func TestWebhookDeliveriesSignedAndInOrder(t *testing.T) {
	rc := startReceiver(t, nil)
	db := openDB(t, t.TempDir(), nil)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	addHook(t, db, rc.srv.URL, notify.EventMessage)
	other := addHook(t, db, rc.srv.URL+"/ended", notify.EventSessionEnded)
	sid := newSession(t, db, parley.Customer{ID: "c1"})
	texts := []string{"one", "two", "three", "four", "five", "six"}
	for _, text := range texts {
		appendMessages(t, db, svc, sid, text)
	}
	// A whisper is for agents only: never delivered.
	err = db.Update(context.Background(), func(tx *storage.Tx) error {
		from := tx.AppendedCount()
		if _, err := tx.Append(sid, &parley.Event{Kind: parley.KindMessage, Whisper: true, From: parley.Participant{Role: parley.RoleAgent, ID: "a1"}, Text: "psst"}); err != nil {
			return err
		}
		_, err := svc.Appended(tx, from)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := rc.waitProcessed(t, len(texts))
	for i, wb := range got {
		if wb.Type != notify.EventMessage || wb.Event.Text != texts[i] || wb.Session.ID != sid || wb.Session.Customer.ID != "c1" {
			t.Fatalf("delivery %d = %+v, want message %q of %s in order", i, wb, texts[i], sid)
		}
	}
	waitFor(t, "every job sent", func() bool {
		for _, j := range jobs(t, db, storage.JobWebhook) {
			if j.State != storage.JobSent {
				return false
			}
		}
		return true
	})
	for _, j := range jobs(t, db, storage.JobWebhook) {
		if j.Target == other.ID {
			t.Fatalf("a message went to the webhook subscribed to session.ended only: %+v", j)
		}
	}
	if n := len(jobs(t, db, storage.JobWebhook)); n != len(texts) {
		t.Fatalf("%d webhook jobs, want %d (no whisper)", n, len(texts))
	}
	if _, _, bad := rc.snapshot(); bad != 0 {
		t.Fatalf("%d deliveries had a bad signature", bad)
	}
}

func TestWebhookSignatureVerifies(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	at := time.Unix(1700000000, 0)
	h := notify.Sign([]byte("k"), at, body)
	if h != "t=1700000000,v1="+hmacHex("k", "1700000000."+string(body)) {
		t.Fatalf("header %q is not t=…,v1=hex(HMAC-SHA256(secret, t.body))", h)
	}
	if err := notify.Verify([]byte("k"), h, body, at, time.Minute); err != nil {
		t.Fatal(err)
	}
	if notify.Verify([]byte("other"), h, body, at, time.Minute) == nil {
		t.Fatal("verified with the wrong secret")
	}
	if notify.Verify([]byte("k"), h, []byte(`{"id":"y"}`), at, time.Minute) == nil {
		t.Fatal("verified a changed body")
	}
	if notify.Verify([]byte("k"), h, body, at.Add(time.Hour), time.Minute) == nil {
		t.Fatal("verified a stale timestamp")
	}
}

func TestWebhookReceiverFailsThenRecovers(t *testing.T) {
	clk := newClock()
	rc := startReceiver(t, clk.now)
	rc.answer = func(n int, _ *http.Request) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	db := openDB(t, t.TempDir(), clk.now)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{Now: clk.now, Manual: true, WebhookBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	addHook(t, db, rc.srv.URL, notify.EventMessage)
	sid := newSession(t, db, parley.Customer{ID: "c1"})
	appendMessages(t, db, svc, sid, "first")
	appendMessages(t, db, svc, sid, "second")
	// The second waits behind the first while it fails: order per session.
	for i := range 3 {
		if n := svc.RunDue(); n != 1 {
			t.Fatalf("run %d made %d deliveries, want 1 (one in flight per session)", i, n)
		}
		clk.add(time.Duration(10<<i) * time.Second)
	}
	svc.RunDue()
	reqs, got, _ := rc.snapshot()
	if len(got) != 2 || got[0].Event.Text != "first" || got[1].Event.Text != "second" {
		t.Fatalf("processed %+v, want first then second", got)
	}
	if len(reqs) != 5 || reqs[0] != reqs[1] || reqs[1] != reqs[2] || reqs[2] != reqs[3] {
		t.Fatalf("requests %v: want the first delivery's id four times, then the second", reqs)
	}
	js := jobs(t, db, storage.JobWebhook)
	if js[0].Attempts != 4 || js[0].State != storage.JobSent || js[1].Attempts != 1 {
		t.Fatalf("jobs %+v", js)
	}
}

func TestWebhookDeadLetterAfter24Hours(t *testing.T) {
	clk := newClock()
	rc := startReceiver(t, clk.now)
	rc.answer = func(int, *http.Request) int { return http.StatusInternalServerError }
	db := openDB(t, t.TempDir(), clk.now)
	defer db.Close()
	svc, err := notify.Open(db, notify.Config{Now: clk.now, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	addHook(t, db, rc.srv.URL, notify.EventMessage)
	sid := newSession(t, db, parley.Customer{ID: "c1"})
	appendMessages(t, db, svc, sid, "doomed")
	appendMessages(t, db, svc, sid, "next")
	attempts := 0
	for clk.now().Before(newClock().now().Add(25 * time.Hour)) {
		attempts += svc.RunDue()
		clk.add(time.Minute)
		if js := jobs(t, db, storage.JobWebhook); js[0].State == storage.JobDead {
			break
		}
	}
	js := jobs(t, db, storage.JobWebhook)
	if js[0].State != storage.JobDead {
		t.Fatalf("first job %+v, want dead after 24h", js[0])
	}
	if age := js[0].DoneAt.Sub(js[0].FirstAttemptAt.Time); age < 24*time.Hour || age > 25*time.Hour {
		t.Fatalf("dead after %v, want about 24h", age)
	}
	// Backoff is exponential up to an hour: far fewer than one try a minute.
	if attempts > 40 {
		t.Fatalf("%d attempts in 24h; backoff is not exponential", attempts)
	}
	var dead []*storage.Job
	_ = db.View(func(tx *storage.Tx) (err error) {
		dead, err = tx.Jobs(storage.JobQuery{State: storage.JobDead})
		return
	})
	if len(dead) != 1 {
		t.Fatalf("dead letter holds %d jobs, want 1", len(dead))
	}
	// The dead one no longer holds the session's line.
	svc.RunDue()
	if reqs, _, _ := rc.snapshot(); reqs[len(reqs)-1] != js[1].ID {
		t.Fatalf("the next delivery was not tried after the dead letter")
	}
}

func TestWebhookKilledDuringDeliveryLosesNothing(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir, nil)
	defer db.Close()
	rc := startReceiver(t, nil)
	inside := make(chan struct{})
	var once sync.Once
	rc.answer = func(n int, r *http.Request) int {
		if n == 0 {
			// The first delivery hangs until the server dies.
			once.Do(func() { close(inside) })
			<-r.Context().Done()
			return http.StatusServiceUnavailable
		}
		return 0
	}
	svc, err := notify.Open(db, notify.Config{})
	if err != nil {
		t.Fatal(err)
	}
	addHook(t, db, rc.srv.URL, notify.EventMessage)
	sid := newSession(t, db, parley.Customer{ID: "c1"})
	appendMessages(t, db, svc, sid, "a", "b", "c")
	<-inside
	// Kill: the worker stops without recording the delivery in flight.
	_ = svc.Close()
	if js := jobs(t, db, storage.JobWebhook); js[0].State != storage.JobPending || js[0].Attempts != 0 {
		t.Fatalf("the interrupted delivery was recorded: %+v", js[0])
	}
	svc, err = notify.Open(db, notify.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	got := rc.waitProcessed(t, 3)
	for i, want := range []string{"a", "b", "c"} {
		if got[i].Event.Text != want {
			t.Fatalf("processed %d = %q, want %q", i, got[i].Event.Text, want)
		}
	}
	reqs, _, _ := rc.snapshot()
	if len(reqs) != 4 || reqs[0] != reqs[1] {
		t.Fatalf("requests %v: want the interrupted delivery repeated with the same id, then the others", reqs)
	}
}
