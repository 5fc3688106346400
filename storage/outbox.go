package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// This file is the outbox: deliveries (mails, webhook calls) to be made
// at least once, stored in the same transaction as whatever caused them, so
// a committed event always has its deliveries and a rolled-back one has
// none. Jobs are keyed by a per-bucket sequence (8 bytes big-endian), so a
// cursor walks them in creation order; package notify delivers them.

// Job kinds.
const (
	JobMail    = "mail"
	JobWebhook = "webhook"
)

// Job states.
const (
	JobPending = "pending"
	JobSent    = "sent"
	JobDead    = "dead"
)

// Job is one delivery in the outbox.
type Job struct {
	// Seq orders jobs by creation; it is the job's key.
	Seq uint64 `json:"seq"`
	// ID is the delivery id receivers deduplicate by; it stays the same
	// over every attempt.
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Group, if set, makes jobs of the same group go out one at a time in
	// Seq order (a webhook's events of one session).
	Group string `json:"group,omitempty"`
	// IdemKey, if set, is unique among jobs: enqueueing a job with a key
	// already used stores nothing and returns the first job.
	IdemKey string `json:"idempotency_key,omitempty"`
	// SessionID is the session the job is about, if any: deleting the
	// session (purge, erase) deletes its jobs, which hold its text.
	SessionID string `json:"session_id,omitempty"`
	// Target names the destination for listings: the mail recipients or
	// the webhook id.
	Target string `json:"target"`
	// Summary is a one-line description for listings (a subject, an event).
	Summary       string          `json:"summary,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	State         string          `json:"state"`
	Attempts      int             `json:"attempts"`
	NextAttemptAt parley.Time     `json:"next_attempt_at"`
	LastError     string          `json:"last_error,omitempty"`
	CreatedAt     parley.Time     `json:"created_at"`
	// FirstAttemptAt is when delivery was first tried: webhooks are
	// retried for a while from then, not from their creation, so a job
	// that waited behind a failing one of its group gets its full time.
	FirstAttemptAt parley.Time `json:"first_attempt_at,omitzero"`
	DoneAt         parley.Time `json:"done_at,omitzero"`
}

// maxIdemKeyBytes bounds idempotency keys so index keys stay small.
const maxIdemKeyBytes = 512

// Enqueue stores j as a new pending job. It sets Seq, ID (if empty),
// State, CreatedAt and NextAttemptAt (if zero: now). If j.IdemKey was used
// before, it stores nothing, overwrites *j with the stored job and returns
// dup=true.
func (tx *Tx) Enqueue(j *Job) (dup bool, err error) {
	if j == nil || j.Kind == "" {
		return false, fmt.Errorf("storage: enqueue: %w", parley.Errorf(parley.EBadRequest, "Missing job kind."))
	}
	if len(j.IdemKey) > maxIdemKeyBytes {
		return false, fmt.Errorf("storage: enqueue: %w", parley.Errorf(parley.EBadRequest, "Idempotency key too long."))
	}
	if j.IdemKey != "" {
		idem, err := tx.bucket(bucketOutboxIdem)
		if err != nil {
			return false, err
		}
		if v := idem.Get([]byte(j.IdemKey)); v != nil {
			if len(v) != seqLen {
				return false, fmt.Errorf("storage: corrupt outbox idempotency entry of %d bytes", len(v))
			}
			stored, err := tx.Job(binary.BigEndian.Uint64(v))
			if err != nil {
				return false, err
			}
			*j = *stored
			return true, nil
		}
	}
	b, err := tx.bucket(bucketOutbox)
	if err != nil {
		return false, err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return false, fmt.Errorf("storage: outbox sequence: %w", err)
	}
	j.Seq = seq
	if j.ID == "" {
		j.ID = parley.NewID(tx.now)
	}
	j.State = JobPending
	j.CreatedAt = parley.TimeOf(tx.now)
	if j.NextAttemptAt.IsZero() {
		j.NextAttemptAt = j.CreatedAt
	}
	if err := tx.PutJob(j); err != nil {
		return false, err
	}
	if j.IdemKey != "" {
		if err := tx.put(bucketOutboxIdem, []byte(j.IdemKey), u64(seq)); err != nil {
			return false, err
		}
	}
	if j.SessionID != "" {
		sid, err := parseID(j.SessionID)
		if err != nil {
			return false, err
		}
		if err := tx.put(bucketOutboxSessions, append(bytes.Clone(sid[:]), u64(seq)...), []byte{}); err != nil {
			return false, err
		}
	}
	return false, nil
}

// deleteJob deletes a job with its index entries.
func (tx *Tx) deleteJob(j *Job) error {
	for _, name := range [][]byte{bucketOutbox, bucketOutboxPending} {
		if err := tx.del(name, u64(j.Seq)); err != nil {
			return err
		}
	}
	if j.IdemKey != "" {
		if err := tx.del(bucketOutboxIdem, []byte(j.IdemKey)); err != nil {
			return err
		}
	}
	if sid, err := parseID(j.SessionID); err == nil {
		if err := tx.del(bucketOutboxSessions, append(bytes.Clone(sid[:]), u64(j.Seq)...)); err != nil {
			return err
		}
	}
	return nil
}

// deleteSessionJobs deletes every job about a session, pending or not.
func (tx *Tx) deleteSessionJobs(sid ulid.ULID) error {
	b, err := tx.bucket(bucketOutboxSessions)
	if err != nil {
		return err
	}
	keys := prefixKeys(b.Cursor(), sid[:], false, math.MaxInt)
	for _, k := range keys {
		if len(k) != idLen+seqLen {
			return fmt.Errorf("storage: corrupt outbox session key of %d bytes", len(k))
		}
		j, err := tx.Job(binary.BigEndian.Uint64(k[idLen:]))
		if parley.ErrorCode(err) == parley.ENotFound {
			if err := tx.del(bucketOutboxSessions, k); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		if err := tx.deleteJob(j); err != nil {
			return err
		}
	}
	return nil
}

// Job returns the job with sequence seq (parley.ENotFound if absent).
func (tx *Tx) Job(seq uint64) (*Job, error) {
	b, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	v := b.Get(u64(seq))
	if v == nil {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Job %d not found.", seq))
	}
	j := new(Job)
	if err := decode(v, j); err != nil {
		return nil, fmt.Errorf("job %d: %w", seq, err)
	}
	return j, nil
}

// PutJob writes a job and keeps the pending index in step with its state.
func (tx *Tx) PutJob(j *Job) error {
	switch j.State {
	case JobPending, JobSent, JobDead:
	default:
		return fmt.Errorf("storage: put job: %w", parley.Errorf(parley.EBadRequest, "Unknown job state %q.", j.State))
	}
	k := u64(j.Seq)
	if j.State == JobPending {
		if err := tx.putJSON(bucketOutboxPending, k, JobHead{Seq: j.Seq, Group: j.Group, NextAttemptAt: j.NextAttemptAt}); err != nil {
			return err
		}
	} else if err := tx.del(bucketOutboxPending, bytes.Clone(k)); err != nil {
		return err
	}
	return tx.putJSON(bucketOutbox, k, j)
}

// PendingJobs returns up to limit (0: all) pending jobs in creation order.
func (tx *Tx) PendingJobs(limit int) ([]*Job, error) {
	b, err := tx.bucket(bucketOutboxPending)
	if err != nil {
		return nil, err
	}
	out := []*Job{}
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if limit > 0 && len(out) == limit {
			break
		}
		if len(k) != seqLen {
			return nil, fmt.Errorf("storage: corrupt outbox pending key of %d bytes", len(k))
		}
		j, err := tx.Job(binary.BigEndian.Uint64(k))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// JobHead is what the deliverer needs to choose the next jobs: kept in
// the pending index, so choosing reads no payloads.
type JobHead struct {
	Seq           uint64      `json:"seq"`
	Group         string      `json:"group,omitempty"`
	NextAttemptAt parley.Time `json:"next_attempt_at"`
}

// PendingHeads returns the heads of every pending job in creation order.
func (tx *Tx) PendingHeads() ([]JobHead, error) {
	b, err := tx.bucket(bucketOutboxPending)
	if err != nil {
		return nil, err
	}
	out := []JobHead{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var h JobHead
		if err := decode(v, &h); err != nil {
			return nil, fmt.Errorf("outbox pending %x: %w", k, err)
		}
		out = append(out, h)
	}
	return out, nil
}

// JobCounts counts the jobs of the outbox by kind, then state.
func (tx *Tx) JobCounts() (map[string]map[string]int, error) {
	b, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var j struct {
			Kind  string `json:"kind"`
			State string `json:"state"`
		}
		if err := decode(v, &j); err != nil {
			return nil, fmt.Errorf("job %x: %w", k, err)
		}
		if out[j.Kind] == nil {
			out[j.Kind] = map[string]int{}
		}
		out[j.Kind][j.State]++
	}
	return out, nil
}

// JobQuery selects jobs for listings.
type JobQuery struct {
	Kind   string // "" for every kind
	State  string // "" for every state
	Target string // "" for every target
	Limit  int    // 0: no limit
}

// Jobs returns the jobs matching q, newest first.
func (tx *Tx) Jobs(q JobQuery) ([]*Job, error) {
	b, err := tx.bucket(bucketOutbox)
	if err != nil {
		return nil, err
	}
	out := []*Job{}
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		j := new(Job)
		if err := decode(v, j); err != nil {
			return nil, fmt.Errorf("job %x: %w", k, err)
		}
		if (q.Kind != "" && j.Kind != q.Kind) || (q.State != "" && j.State != q.State) ||
			(q.Target != "" && j.Target != q.Target) {
			continue
		}
		out = append(out, j)
	}
	return out, nil
}

// PruneJobs deletes the jobs in state (sent or dead) finished before
// cutoff, with their idempotency entries, and returns how many it deleted.
func (tx *Tx) PruneJobs(state string, cutoff time.Time) (int, error) {
	b, err := tx.bucket(bucketOutbox)
	if err != nil {
		return 0, err
	}
	var del []*Job
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		j := new(Job)
		if err := decode(v, j); err != nil {
			return 0, fmt.Errorf("job %x: %w", k, err)
		}
		if j.State == state && state != JobPending && !j.DoneAt.IsZero() && j.DoneAt.Before(cutoff) {
			del = append(del, j)
		}
	}
	for _, j := range del {
		if err := tx.deleteJob(j); err != nil {
			return 0, err
		}
	}
	return len(del), nil
}

// AppendedEvent is an event Append stored in this transaction.
type AppendedEvent struct {
	SessionID string
	Event     parley.Event
}

// AppendedCount returns how many events Append has stored in this
// transaction so far, for Appended.
func (tx *Tx) AppendedCount() int { return len(tx.appended) }

// Appended returns the events Append stored in this transaction after the
// first from, so that code wrapping an update can add deliveries for them
// in the same transaction. Duplicates (client_msg_id seen before) are not
// listed.
func (tx *Tx) Appended(from int) []AppendedEvent {
	if from < 0 || from > len(tx.appended) {
		return nil
	}
	return tx.appended[from:]
}
