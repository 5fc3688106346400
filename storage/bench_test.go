package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-chat/parley/parley"
)

// BenchmarkAppend measures durable (fsync'd) appends from many concurrent
// writers, each appending to its own session, through the group commit.
func BenchmarkAppend(b *testing.B) {
	db := openTest(b, Options{})
	const sessions = 256
	ids := make([]string, sessions)
	update(b, db, func(tx *Tx) error {
		now := tx.Now()
		for i := range ids {
			r := &parley.SessionRecord{
				ID: parley.NewID(now), State: parley.StateActive,
				Customer: parley.Customer{ID: fmt.Sprintf("bench-%d", i)}, CreatedAt: parley.TimeOf(now),
			}
			if err := tx.PutSession(r); err != nil {
				return err
			}
			ids[i] = r.ID
		}
		return nil
	})
	var next atomic.Int64
	before := db.Stats()
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[int(next.Add(1))%sessions]
		ctx := context.Background()
		for pb.Next() {
			err := db.Update(ctx, func(tx *Tx) error {
				_, err := tx.Append(id, &parley.Event{
					Kind: parley.KindMessage, From: parley.Participant{Role: parley.RoleCustomer, ID: "c"},
					Text: "Hello, I have a question about my last invoice.",
				})
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	st := db.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if c := st.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(st.Ops-before.Ops)/float64(c), "ops/commit")
	}
}

// History benchmark database: built once and cached in os.TempDir, keyed by
// benchDBVersion (bump it when the layout or the fixture changes).
const (
	benchDBVersion      = "v1"
	benchSessions       = 200
	benchEventsPerSess  = 5000 // 1M events in all
	benchEventsPerBatch = 50000
)

// historyDB opens the cached 1M-event database, building it first if needed,
// and returns it with its session ids.
func historyDB(b *testing.B) (*DB, []string) {
	b.Helper()
	if testing.Short() {
		b.Skip("builds a 1M-event database; skipped with -short")
	}
	path := filepath.Join(os.TempDir(), "parley-storage-bench-"+benchDBVersion+".db")
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := buildHistoryDB(path); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %s in %v", path, time.Since(start).Round(time.Millisecond))
	}
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	var ids []string
	if err := db.View(func(tx *Tx) error {
		rs, err := tx.OpenSessions()
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if len(ids) != benchSessions {
		b.Fatalf("cached database %s has %d sessions; delete it", path, len(ids))
	}
	return db, ids
}

// buildHistoryDB writes the fixture to a temporary file with big batches,
// in key order, then renames it into place so an interrupted build is never
// reused.
func buildHistoryDB(path string) error {
	tmp := path + ".building"
	_ = os.Remove(tmp)
	db, err := Open(tmp, Options{})
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]string, benchSessions)
	err = db.Update(context.Background(), func(tx *Tx) error {
		for i := range ids {
			r := &parley.SessionRecord{
				ID: parley.NewID(at), State: parley.StateActive,
				Customer: parley.Customer{ID: fmt.Sprintf("bench-%d", i)}, CreatedAt: parley.TimeOf(at),
			}
			if err := tx.PutSession(r); err != nil {
				return err
			}
			ids[i] = r.ID
		}
		return nil
	})
	total := benchSessions * benchEventsPerSess
	for n := 0; err == nil && n < total; n += benchEventsPerBatch {
		err = db.Update(context.Background(), func(tx *Tx) error {
			tx.tx.Bucket(bucketEvents).FillPercent = 1.0 // keys arrive in order
			for k := n; k < min(n+benchEventsPerBatch, total); k++ {
				ev := &parley.Event{
					ID: parley.NewID(at), At: parley.TimeOf(at), Kind: parley.KindMessage,
					From:    parley.Participant{Role: parley.RoleAgent, ID: "a1", Name: "Ann"},
					Text:    "Thanks for waiting, let me check that order for you.",
					Whisper: k%10 == 9,
				}
				if _, err := tx.Append(ids[k/benchEventsPerSess], ev); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("build %s: %w", tmp, err)
	}
	return os.Rename(tmp, path)
}

// BenchmarkHistoryPage reads a 50-event history page before a random point
// of a random session of a 1M-event database.
func BenchmarkHistoryPage(b *testing.B) {
	db, ids := historyDB(b)
	for _, view := range []struct {
		name       string
		noWhispers bool
	}{{"agent", false}, {"customer", true}} {
		b.Run(view.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				id := ids[rng.IntN(len(ids))]
				q := EventQuery{
					BeforeSeq:  uint64(parley.DefaultHistoryLimit + 1 + rng.IntN(benchEventsPerSess-parley.DefaultHistoryLimit)),
					Limit:      parley.DefaultHistoryLimit,
					NoWhispers: view.noWhispers,
				}
				err := db.View(func(tx *Tx) error {
					evs, _, err := tx.Events(id, q)
					if err == nil && len(evs) == 0 {
						err = fmt.Errorf("empty page for %+v", q)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pages/s")
		})
	}
}
