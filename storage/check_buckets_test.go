package storage

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley/parley"
)

// fullFixture is checkFixture with data in every bucket added since:
// status changes, a second queue the queued session waits in, a routing
// decision, outbox jobs (pending with an idempotency key and a session,
// sent with a session, pending without), a webhook, an API key, and files
// uploaded by the customer and by the agent.
type fullFixture struct {
	checkFixture
	pending, sent, loose *Job
	key                  *APIKey
	hook                 *Webhook
	custFile, agentFile  *parley.FileRecord
	routing              *parley.Routing
}

func newFullFixture(t *testing.T) fullFixture {
	t.Helper()
	f := fullFixture{checkFixture: newCheckFixture(t)}
	db := f.db
	now := f.active.CreatedAt.Time
	update(t, db, func(tx *Tx) error { return tx.AddQueue(parley.Queue{Name: "sales"}) })
	f.queued.Queue = "sales"
	put(t, db, f.queued)
	f.routing = &parley.Routing{SessionID: f.active.ID, Queue: parley.DefaultQueue, AgentID: f.agent.ID, At: parley.TimeOf(now)}
	f.pending = &Job{Kind: JobMail, Group: "g", IdemKey: "idem-1", SessionID: f.active.ID, Target: "a@example.com", Payload: []byte(`{}`)}
	f.sent = &Job{Kind: JobWebhook, SessionID: f.ended.ID, Target: "hook", Payload: []byte(`{}`)}
	f.loose = &Job{Kind: JobMail, Target: "b@example.com", Payload: []byte(`{}`)}
	f.hook = &Webhook{ID: parley.NewID(now), URL: "https://example.com/hook", Events: []string{"session.ended"}, Secret: "s"}
	sum := sha256.Sum256([]byte("the key"))
	f.key = &APIKey{ID: parley.NewID(now), Name: "crm", Hash: sum[:], Prefix: "pk_the"}
	update(t, db, func(tx *Tx) error {
		for i, st := range []string{parley.StatusAvailable, parley.StatusBreak} {
			sc := StatusChange{AgentID: f.agent.ID, At: now.Add(time.Duration(i) * time.Minute), Status: st}
			if err := tx.AppendStatus(sc, uint64(i+1)); err != nil {
				return err
			}
		}
		if err := tx.PutRouting(f.routing); err != nil {
			return err
		}
		for _, j := range []*Job{f.pending, f.sent, f.loose} {
			if _, err := tx.Enqueue(j); err != nil {
				return err
			}
		}
		f.sent.State, f.sent.DoneAt = JobSent, parley.TimeOf(now)
		if err := tx.PutJob(f.sent); err != nil {
			return err
		}
		if err := tx.PutWebhook(f.hook); err != nil {
			return err
		}
		return tx.PutAPIKey(f.key)
	})
	f.custFile = addFile(t, db, f.active, "a.txt", "hello", parley.Participant{Role: parley.RoleCustomer, ID: "b"})
	f.agentFile = addFile(t, db, f.active, "b.txt", "from the agent", parley.Participant{Role: parley.RoleAgent, ID: f.agent.ID})
	return f
}

// TestCheckHealthyAllBuckets: a database with data in every bucket checks
// clean, and the report counts what each bucket holds.
func TestCheckHealthyAllBuckets(t *testing.T) {
	f := newFullFixture(t)
	rep := requireHealthy(t, f.db)
	assert.Equal(t, CheckReport{
		Sessions: 3, Events: 8, Agents: 2, Holds: 1, AuditEntries: 2, Files: 2, Blobs: 2,
		StatusChanges: 2, Queues: 2, Routings: 1, Jobs: 3, Webhooks: 1, APIKeys: 1, Problems: []string{},
	}, rep)
}

// TestCheckDetectsBrokenBuckets breaks one invariant of the newer buckets
// per case behind the API's back and expects check to name it.
func TestCheckDetectsBrokenBuckets(t *testing.T) {
	ghost := parley.NewID(time.Now())
	other := sha256.Sum256([]byte("another key"))
	for _, tc := range []struct {
		name string
		// breakIt returns the raw change; want is the text (with %active,
		// %ended, %queued, %ghost, %agent, %key, %custfile for ids) a
		// problem must contain.
		breakIt func(f fullFixture) func(tx *Tx) error
		want    string
	}{
		// agent_status
		{"status history of a missing agent", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.putJSON(bucketAgentStatus, statusKey(sid(t, ghost), time.Now(), 1), statusValue{Status: parley.StatusBreak})
			}
		}, "Status history exists for agent %ghost, which does not exist"},
		{"unknown status", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.putJSON(bucketAgentStatus, statusKey(sid(t, f.agent.ID), time.Now(), 9), statusValue{Status: "lunch"})
			}
		}, `has an unknown status "lunch"`},
		{"short status key", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketAgentStatus, []byte("x"), []byte(`{}`)) }
		}, "Agent status key 78 is 1 bytes long instead of 32"},
		// queues
		{"queue removed while a session waits in it", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketQueues, []byte("sales")) }
		}, `Queued session %queued waits in queue "sales", which does not exist`},
		{"queue stored under another name", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.putJSON(bucketQueues, []byte("x"), parley.Queue{Name: "y"}) }
		}, `Queue stored under "x" is named "y"`},
		{"default queue missing", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketQueues, []byte(parley.DefaultQueue)) }
		}, `The default queue "default" is missing`},
		// routing
		{"routing decision of a missing session", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				r := *f.routing
				r.SessionID = ghost
				return tx.PutRouting(&r)
			}
		}, "Routing decisions exist for session %ghost, which does not exist"},
		{"routing decision under another agent", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				at := msKey(f.routing.At.Time)
				k := append(append(sid(t, f.active.ID).Bytes(), at[:]...), "someone-else"...)
				return tx.putJSON(bucketRouting, k, f.routing)
			}
		}, `The routing decision stored under session %active, agent "someone-else" does not match its key`},
		// customer_files
		{"customer_files entry of a missing file", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketCustomerFiles, pairKey(customerPrefix("b"), sid(t, ghost)), u64(5))
			}
		}, `The customer_files entry of customer "b" points at file %ghost, which does not exist`},
		{"customer_files entry with the wrong size", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketCustomerFiles, pairKey(customerPrefix("b"), sid(t, f.custFile.ID)), u64(999))
			}
		}, "The customer_files entry of file %custfile counts 999 bytes, but the file has 5"},
		{"customer_files entry of an agent's file", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketCustomerFiles, pairKey(customerPrefix("b"), sid(t, f.agentFile.ID)), u64(14))
			}
		}, "which no customer uploaded (agent)"},
		{"customer_files entry of another customer", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketCustomerFiles, pairKey(customerPrefix("z"), sid(t, f.custFile.ID)), u64(5))
			}
		}, `The customer_files entry of customer "z" points at file %custfile of customer "b"`},
		{"malformed customer_files entry", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketCustomerFiles, []byte{0, 9, 'x'}, u64(1)) }
		}, "The customer_files entry 000978 is malformed"},
		// outbox
		{"pending job missing from the pending index", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketOutboxPending, u64(f.pending.Seq)) }
		}, "Pending job %pending has no entry in the outbox_pending index"},
		{"pending index entry of a sent job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.putJSON(bucketOutboxPending, u64(f.sent.Seq), JobHead{Seq: f.sent.Seq})
			}
		}, "The outbox_pending entry %sent points at job %sent, which is sent, not pending"},
		{"pending index entry of a missing job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.putJSON(bucketOutboxPending, u64(99), JobHead{Seq: 99}) }
		}, "The outbox_pending entry 99 points at job 99, which does not exist"},
		{"pending index entry that does not match its job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.putJSON(bucketOutboxPending, u64(f.pending.Seq), JobHead{Seq: f.pending.Seq, Group: "other",
					NextAttemptAt: f.pending.NextAttemptAt})
			}
		}, `The outbox_pending entry of job %pending does not match the job (seq %pending, group "other"`},
		{"idempotency key not indexed", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketOutboxIdem, []byte("idem-1")) }
		}, `Job %pending's idempotency key "idem-1" is not indexed to it`},
		{"idempotency entry of a missing job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketOutboxIdem, []byte("ghost-key"), u64(42)) }
		}, `The outbox_idem entry "ghost-key" points at job 42, which does not exist`},
		{"idempotency entry of another job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketOutboxIdem, []byte("stolen"), u64(f.loose.Seq)) }
		}, `The outbox_idem entry "stolen" points at job %loose, whose idempotency key is ""`},
		{"session job missing from the session index", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.del(bucketOutboxSessions, append(sid(t, f.active.ID).Bytes(), u64(f.pending.Seq)...))
			}
		}, "Job %pending about session %active has no entry in the outbox_sessions index"},
		{"session index entry of a missing job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketOutboxSessions, append(sid(t, f.active.ID).Bytes(), u64(77)...), []byte{})
			}
		}, "The outbox_sessions entry of session %active points at job 77, which does not exist"},
		{"session index entry of another session's job", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.put(bucketOutboxSessions, append(sid(t, f.queued.ID).Bytes(), u64(f.pending.Seq)...), []byte{})
			}
		}, "The outbox_sessions entry of session %queued points at job %pending, which is about session %active"},
		{"job of a deleted session", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketSessions, sid(t, f.ended.ID).Bytes()) }
		}, "Job %sent is about session %ended, which does not exist"},
		{"job above the outbox sequence", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				return tx.putJSON(bucketOutbox, u64(1000), Job{Seq: 1000, Kind: JobMail, State: JobSent, Payload: []byte(`{}`)})
			}
		}, "Job 1000 is above the outbox sequence 3, so a new job would overwrite it"},
		{"job in an unknown state", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error {
				j := *f.loose
				j.State = "lost"
				return tx.putJSON(bucketOutbox, u64(j.Seq), j)
			}
		}, `Job %loose has an unknown state "lost"`},
		// webhooks and API keys
		{"webhook under another key", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.putJSON(bucketWebhooks, []byte("x"), f.hook) }
		}, `Webhook stored under "x" has id`},
		{"API key missing from the hash index", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.del(bucketAPIKeyHashes, f.key.Hash) }
		}, `API key %key ("crm") has no entry in the apikey_hashes index`},
		{"hash index entry of a missing API key", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketAPIKeyHashes, other[:], []byte(ghost)) }
		}, `points at API key "%ghost", which does not exist`},
		{"hash index entry of a key with another hash", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketAPIKeyHashes, other[:], []byte(f.key.ID)) }
		}, `points at API key "%key", whose hash is`},
		{"API key hash indexed to another key", func(f fullFixture) func(tx *Tx) error {
			return func(tx *Tx) error { return tx.put(bucketAPIKeyHashes, f.key.Hash, []byte(ghost)) }
		}, `API key %key ("crm")'s hash is indexed to key "%ghost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFullFixture(t)
			requireHealthy(t, f.db)
			corrupt(t, f.db, tc.breakIt(f))
			rep, err := f.db.Check()
			require.NoError(t, err)
			seq := func(j *Job) string { return strconv.FormatUint(j.Seq, 10) }
			want := strings.NewReplacer("%active", f.active.ID, "%ended", f.ended.ID, "%queued", f.queued.ID,
				"%ghost", ghost, "%agent", f.agent.ID, "%key", f.key.ID, "%custfile", f.custFile.ID,
				"%pending", seq(f.pending), "%sent", seq(f.sent), "%loose", seq(f.loose)).Replace(tc.want)
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
