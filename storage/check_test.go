package storage

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// checkFixture is a small database with every kind of data: an ended, an
// active and a queued session with events, agents, a hold and audit
// entries.
type checkFixture struct {
	db                    *DB
	ended, active, queued *parley.SessionRecord
	agent                 *parley.Agent
}

func newCheckFixture(t *testing.T) checkFixture {
	t.Helper()
	clk := newClock()
	db := openTest(t, Options{Now: clk.Now})
	t0 := clk.Now()
	f := checkFixture{db: db}
	f.ended = newSession(t, db, "a", t0)
	appendN(t, db, f.ended.ID, 3)
	endSession(t, db, f.ended, t0.Add(time.Minute))
	f.active = newSession(t, db, "b", t0.Add(time.Second))
	appendN(t, db, f.active.ID, 4)
	f.active.State = parley.StateActive
	put(t, db, f.active)
	f.queued = newSession(t, db, "c", t0.Add(2*time.Second))
	appendN(t, db, f.queued.ID, 1)
	f.agent = newAgent("Ann", "Ann@Example.com")
	update(t, db, func(tx *Tx) error {
		require.NoError(t, tx.PutAgent(f.agent))
		require.NoError(t, tx.PutAgent(newAgent("Bo", "")))
		require.NoError(t, tx.PutHold(parley.Hold{CustomerID: "a"}))
		require.NoError(t, tx.AppendAudit(&parley.AuditEntry{Action: parley.AuditHoldAdd, CustomerID: "a"}))
		return tx.AppendAudit(&parley.AuditEntry{Action: parley.AuditPurge})
	})
	return f
}

// corrupt changes raw bucket contents behind the API's back, to break an
// invariant on purpose.
func corrupt(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	update(t, db, fn)
}

func sid(t *testing.T, id string) ulid.ULID {
	t.Helper()
	u, err := ulid.ParseStrict(id)
	require.NoError(t, err)
	return u
}

func TestCheckHealthy(t *testing.T) {
	f := newCheckFixture(t)
	rep := requireHealthy(t, f.db)
	assert.Equal(t, CheckReport{Sessions: 3, Events: 8, Agents: 2, Holds: 1, AuditEntries: 2, Queues: 1, Problems: []string{}}, rep)

	empty := openTest(t, Options{})
	assert.Equal(t, CheckReport{Queues: 1, Problems: []string{}}, requireHealthy(t, empty))
}

func TestCheckDetectsBrokenInvariants(t *testing.T) {
	ghost := parley.NewID(time.Now())
	for _, tc := range []struct {
		name string
		// breakIt returns the raw change that breaks an invariant and the
		// text (with %active, %ended, %queued, %ghost for ids) a problem
		// must contain.
		breakIt func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error
		want    string
	}{
		{"event missing in the middle", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketEvents, eventKey(id(f.active.ID), 2)) }
		}, "Session %active has event seq 3 where 2 was expected"},
		{"events of a missing session", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketEvents, eventKey(id(ghost), 1), []byte(`{"seq":1}`)) }
		}, "Events exist for session %ghost, which does not exist"},
		{"client_msg_id pointing at a deleted event", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketEvents, eventKey(id(f.ended.ID), 3)) }
		}, `The client_msg_id "cm-2" of session %ended points at event 3, which does not exist`},
		{"orphan customer index entry", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketCustomerSessions, customerKey("z", time.Now(), id(ghost)), []byte{})
			}
		}, "points at session %ghost, which does not exist"},
		{"record deleted behind the indexes", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketSessions, id(f.queued.ID).Bytes()) }
		}, "The queue index entry"},
		{"queue entry of an active session", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketQueue, timeIDKey(f.active.QueuedAt.Time, id(f.active.ID)), []byte{})
			}
		}, "does not match session %active (state active)"},
		{"queued session missing from the queue", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.del(bucketQueue, timeIDKey(f.queued.QueuedAt.Time, id(f.queued.ID)))
			}
		}, "Session %queued (queued) has no entry in the queue index"},
		{"ended session missing from the ended index", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.del(bucketEnded, timeIDKey(f.ended.EndedAt.Time, id(f.ended.ID)))
			}
		}, "Session %ended (ended) has no entry in the ended index"},
		{"open session missing from the open index", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketOpenSessions, []byte("b")) }
		}, `Open session %active is not the open session of customer "b"`},
		{"open index pointing at an ended session", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketOpenSessions, []byte("a"), id(f.ended.ID).Bytes()) }
		}, `The open index entry of customer "a" points at session %ended, which has ended`},
		{"agent e-mail not indexed", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketAgentEmails, []byte("ann@example.com")) }
		}, `e-mail address "Ann@Example.com" is not indexed to it`},
		{"e-mail index pointing at a missing agent", func(f checkFixture, id func(string) ulid.ULID) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketAgentEmails, []byte("x@example.com"), []byte("nobody")) }
		}, `The e-mail index entry "x@example.com" points at agent "nobody", which does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCheckFixture(t)
			corrupt(t, f.db, tc.breakIt(f, func(s string) ulid.ULID { return sid(t, s) }))
			rep, err := f.db.Check()
			require.NoError(t, err)
			want := strings.NewReplacer("%active", f.active.ID, "%ended", f.ended.ID, "%queued", f.queued.ID,
				"%ghost", ghost).Replace(tc.want)
			require.NotEmpty(t, rep.Problems)
			found := false
			for _, p := range rep.Problems {
				found = found || strings.Contains(p, want)
				assert.True(t, strings.HasSuffix(p, "."), "problems are sentences: %q", p)
			}
			assert.True(t, found, "want a problem containing %q, got %q", want, rep.Problems)
		})
	}
}

func TestCheckAfterClose(t *testing.T) {
	db, err := Open(t.TempDir()+"/p.db", Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = db.Check()
	assert.Equal(t, parley.EUnavailable, parley.ErrorCode(err))
}
