package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/oklog/ulid/v2"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parley-chat/parley/parley"
)

// maxProblems caps CheckReport.Problems so that a badly damaged file yields
// a readable report rather than millions of lines.
const maxProblems = 1000

// CheckReport is the result of Check: what the database holds and what is
// wrong with it.
type CheckReport struct {
	Sessions     int `json:"sessions"`
	Events       int `json:"events"`
	Agents       int `json:"agents"`
	Holds        int `json:"holds"`
	AuditEntries int `json:"audit_entries"`
	// Files counts file records and Blobs the distinct blobs they use;
	// every blob is read and its SHA-256 checked (files_check.go).
	Files int `json:"files"`
	Blobs int `json:"blobs"`
	// The buckets of check_buckets.go and check_outbox.go: agent status
	// changes, queues, routing decisions, outbox jobs, webhooks and API
	// keys.
	StatusChanges int `json:"status_changes"`
	Queues        int `json:"queues"`
	Routings      int `json:"routings"`
	Jobs          int `json:"jobs"`
	Webhooks      int `json:"webhooks"`
	APIKeys       int `json:"api_keys"`
	// Problems lists each inconsistency found as a sentence; empty means
	// healthy.
	Problems []string `json:"problems"`
}

// checker collects problems, keeping at most maxProblems of them.
type checker struct {
	report  CheckReport
	dropped int
}

func (c *checker) problem(format string, args ...any) {
	if len(c.report.Problems) >= maxProblems {
		c.dropped++
		return
	}
	c.report.Problems = append(c.report.Problems, fmt.Sprintf(format, args...))
}

// Check verifies the database. It runs bbolt's own page-level consistency
// check and then Parley's invariants: every event belongs to an existing
// session and each session's seqs run 1..N without gaps; every
// client_msg_id entry points at an existing event; the customer, open,
// queue and ended indexes agree with the session records both ways; the
// agent e-mail index agrees with the agents; file records agree with their
// indexes (session_files, blob_refs, customer_files) both ways and with
// their blobs; status changes belong to existing agents; queued sessions
// wait in existing queues; routing decisions belong to existing sessions;
// the outbox's pending, idempotency and session indexes agree with its jobs
// both ways; API keys agree with their hash index both ways. Problems go
// into the report;
// the error is only for failing to run the check at all.
//
// bbolt's check reads the shared free list, which is only safe inside a
// read-write transaction, so that part holds the write lock (writers wait;
// the transaction is rolled back). On a DB opened with OpenReadOnly there
// is no writer (the shared file lock keeps other processes' writers out
// too), so it runs in a read transaction and nothing is written. The
// invariants are checked in a read transaction, concurrently with writers,
// on one consistent snapshot.
func (db *DB) Check() (CheckReport, error) {
	c := &checker{}
	btx, err := db.bolt.Begin(!db.readOnly)
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return CheckReport{}, errClosed()
	} else if err != nil {
		return CheckReport{}, fmt.Errorf("storage: check: begin transaction: %w", err)
	}
	for err := range btx.Check() {
		c.problem("bbolt: %v.", err)
	}
	_ = btx.Rollback()
	blobs := db.Blobs()
	blobs.mu.RLock() // no blob the snapshot references is collected meanwhile
	defer blobs.mu.RUnlock()
	err = db.View(func(tx *Tx) error {
		for _, step := range []func(*checker) error{
			tx.checkSessions, tx.checkIndexes, tx.checkEvents, tx.checkClientMsgIDs,
			tx.checkAgents, tx.checkHoldsAndAudit, func(c *checker) error { return tx.checkFiles(c, blobs) },
			tx.checkCustomerFiles, tx.checkStatusLog, tx.checkQueues, tx.checkRoutings, tx.checkOutbox,
			tx.checkWebhooksAndAPIKeys,
		} {
			if err := step(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return CheckReport{}, fmt.Errorf("storage: check: %w", err)
	}
	if c.dropped > 0 {
		c.report.Problems = append(c.report.Problems, fmt.Sprintf("%d more problems were not listed.", c.dropped))
	}
	if c.report.Problems == nil {
		c.report.Problems = []string{}
	}
	return c.report, nil
}

// checkSessions checks each record and that it has all its index entries.
func (tx *Tx) checkSessions(c *checker) error {
	b, err := tx.bucket(bucketSessions)
	if err != nil {
		return err
	}
	open, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		c.report.Sessions++
		if len(k) != idLen {
			c.problem("Session key %x is %d bytes long instead of %d.", k, len(k), idLen)
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		r := new(parley.SessionRecord)
		if err := decode(v, r); err != nil {
			c.problem("Session %s cannot be decoded: %v.", sid, err)
			return nil
		}
		if r.ID != sid.String() {
			c.problem("Session stored under %s has id %q.", sid, r.ID)
		}
		if err := validSession(r); err != nil {
			c.problem("Session %s is invalid: %s", sid, parley.ErrorMessage(err))
			return nil
		}
		for _, ik := range sessionIndexKeys(r, sid) {
			ib, err := tx.bucket(ik.bucket)
			if err != nil {
				return err
			}
			if ib.Get(ik.key) == nil {
				c.problem("Session %s (%s) has no entry in the %s index.", sid, r.State, ik.bucket)
			}
		}
		if r.Open() {
			if cur := open.Get([]byte(r.Customer.ID)); !bytes.Equal(cur, sid[:]) {
				c.problem("Open session %s is not the open session of customer %q in the open index.", sid, r.Customer.ID)
			}
		}
		return nil
	})
}

// checkIndexes checks that every index entry points at a record in the
// matching state.
func (tx *Tx) checkIndexes(c *checker) error {
	for _, name := range [][]byte{bucketCustomerSessions, bucketQueue, bucketEnded} {
		b, err := tx.bucket(name)
		if err != nil {
			return err
		}
		err = b.ForEach(func(k, _ []byte) error {
			if len(k) < idLen {
				c.problem("The %s index has a %d-byte key %x, too short to hold a session id.", name, len(k), k)
				return nil
			}
			var sid ulid.ULID
			copy(sid[:], k[len(k)-idLen:])
			r, err := tx.session(sid)
			switch {
			case err != nil:
				c.problem("The %s index entry %x points at session %s, which cannot be decoded.", name, k, sid)
			case r == nil:
				c.problem("The %s index entry %x points at session %s, which does not exist.", name, k, sid)
			case !slices.ContainsFunc(sessionIndexKeys(r, sid), indexKey{name, k}.equal):
				c.problem("The %s index entry %x does not match session %s (state %s).", name, k, sid, r.State)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	b, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		if len(v) != idLen {
			c.problem("The open index entry of customer %q holds %d bytes instead of a session id.", k, len(v))
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], v)
		r, err := tx.session(sid)
		switch {
		case err != nil:
			c.problem("The open index entry of customer %q points at session %s, which cannot be decoded.", k, sid)
		case r == nil:
			c.problem("The open index entry of customer %q points at session %s, which does not exist.", k, sid)
		case !r.Open():
			c.problem("The open index entry of customer %q points at session %s, which has ended.", k, sid)
		case r.Customer.ID != string(k):
			c.problem("The open index entry of customer %q points at session %s of customer %q.", k, sid, r.Customer.ID)
		}
		return nil
	})
}

// checkEvents checks that events belong to existing sessions, that seqs run
// 1..N and that each event's seq matches its key. Keys are sorted by session
// then seq, so one pass suffices.
func (tx *Tx) checkEvents(c *checker) error {
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return err
	}
	var (
		cur  []byte // session prefix of the run being checked
		want uint64 // next expected seq in it
	)
	return b.ForEach(func(k, v []byte) error {
		c.report.Events++
		if len(k) != idLen+seqLen {
			c.problem("Event key %x is %d bytes long instead of %d.", k, len(k), idLen+seqLen)
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		seq := binary.BigEndian.Uint64(k[idLen:])
		if !bytes.Equal(cur, k[:idLen]) {
			cur, want = bytes.Clone(k[:idLen]), 1
			if r, err := tx.session(sid); err == nil && r == nil {
				c.problem("Events exist for session %s, which does not exist.", sid)
			}
		}
		if seq != want {
			c.problem("Session %s has event seq %d where %d was expected (gap or bad start).", sid, seq, want)
		}
		want = seq + 1
		var ev parley.Event
		if err := decode(v, &ev); err != nil {
			c.problem("Event %d of session %s cannot be decoded: %v.", seq, sid, err)
		} else if ev.Seq != seq {
			c.problem("Event %d of session %s records seq %d.", seq, sid, ev.Seq)
		}
		return nil
	})
}

// checkClientMsgIDs checks that every client_msg_id entry points at an
// existing event.
func (tx *Tx) checkClientMsgIDs(c *checker) error {
	b, err := tx.bucket(bucketClientMsgIDs)
	if err != nil {
		return err
	}
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error {
		if len(k) <= idLen || len(v) != seqLen {
			c.problem("The client_msg_id entry %x has a malformed key or value (%d-byte value).", k, len(v))
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		seq := binary.BigEndian.Uint64(v)
		if events.Get(eventKey(sid, seq)) == nil {
			c.problem("The client_msg_id %q of session %s points at event %d, which does not exist.", k[idLen:], sid, seq)
		}
		return nil
	})
}

// checkAgents checks the agents and the e-mail index both ways.
func (tx *Tx) checkAgents(c *checker) error {
	agents, err := tx.bucket(bucketAgents)
	if err != nil {
		return err
	}
	emails, err := tx.bucket(bucketAgentEmails)
	if err != nil {
		return err
	}
	err = agents.ForEach(func(k, _ []byte) error {
		c.report.Agents++
		a, err := tx.agent(string(k))
		switch {
		case err != nil:
			c.problem("Agent %q cannot be decoded: %v.", k, err)
		case a.ID != string(k):
			c.problem("Agent stored under %q has id %q.", k, a.ID)
		case a.Email != "" && string(emails.Get(emailKey(a.Email))) != a.ID:
			c.problem("Agent %q's e-mail address %q is not indexed to it.", k, a.Email)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return emails.ForEach(func(k, v []byte) error {
		a, err := tx.agent(string(v))
		switch {
		case err != nil:
			c.problem("The e-mail index entry %q points at agent %q, which cannot be decoded.", k, v)
		case a == nil:
			c.problem("The e-mail index entry %q points at agent %q, which does not exist.", k, v)
		case !bytes.Equal(emailKey(a.Email), k):
			c.problem("The e-mail index entry %q points at agent %q, whose e-mail address is %q.", k, v, a.Email)
		}
		return nil
	})
}

// checkHoldsAndAudit counts holds and audit entries and checks their keys.
func (tx *Tx) checkHoldsAndAudit(c *checker) error {
	holds, err := tx.bucket(bucketHolds)
	if err != nil {
		return err
	}
	err = holds.ForEach(func(k, v []byte) error {
		c.report.Holds++
		var h struct {
			CustomerID string `json:"customer_id"`
		}
		if err := decode(v, &h); err != nil {
			c.problem("The hold of customer %q cannot be decoded: %v.", k, err)
		} else if h.CustomerID != string(k) {
			c.problem("The hold stored under customer %q names customer %q.", k, h.CustomerID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	audit, err := tx.bucket(bucketAudit)
	if err != nil {
		return err
	}
	return audit.ForEach(func(k, _ []byte) error {
		c.report.AuditEntries++
		if len(k) != idLen {
			c.problem("Audit key %x is %d bytes long instead of %d.", k, len(k), idLen)
		}
		return nil
	})
}
