package storage

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// checkOutbox checks the outbox: every job is stored under its seq, below
// the bucket's sequence (or a new job would overwrite it), in a known
// state, about an existing session if any; every pending job has its
// outbox_pending entry and no other job has one; every idempotency key and
// session reference is indexed; and each index entry points at an existing
// job that matches it.
func (tx *Tx) checkOutbox(c *checker) error {
	jobs := tx.optBucket(bucketOutbox)
	pending, idem, sessions := tx.optBucket(bucketOutboxPending), tx.optBucket(bucketOutboxIdem), tx.optBucket(bucketOutboxSessions)
	if jobs == nil || pending == nil || idem == nil || sessions == nil {
		return nil // an older file opened read-only
	}
	top := jobs.Sequence()
	err := jobs.ForEach(func(k, v []byte) error {
		c.report.Jobs++
		if len(k) != seqLen {
			c.problem("Outbox key %x is %d bytes long instead of %d.", k, len(k), seqLen)
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		if seq > top {
			c.problem("Job %d is above the outbox sequence %d, so a new job would overwrite it.", seq, top)
		}
		var j Job
		if err := decode(v, &j); err != nil {
			c.problem("Job %d cannot be decoded: %v.", seq, err)
			return nil
		}
		if j.Seq != seq {
			c.problem("Job stored under %d has seq %d.", seq, j.Seq)
		}
		switch j.State {
		case JobPending:
			c.checkPendingHead(&j, seq, pending.Get(k))
		case JobSent, JobDead:
		default:
			c.problem("Job %d has an unknown state %q.", seq, j.State)
		}
		if j.IdemKey != "" {
			if got := idem.Get([]byte(j.IdemKey)); !bytes.Equal(got, k) {
				c.problem("Job %d's idempotency key %q is not indexed to it.", seq, j.IdemKey)
			}
		}
		if j.SessionID != "" {
			sid, err := parley.ParseID(j.SessionID)
			if err != nil {
				c.problem("Job %d names a bad session id %q.", seq, j.SessionID)
				return nil
			}
			if sessions.Get(append(bytes.Clone(sid[:]), k...)) == nil {
				c.problem("Job %d about session %s has no entry in the outbox_sessions index.", seq, sid)
			}
			if r, err := tx.session(sid); err == nil && r == nil {
				c.problem("Job %d is about session %s, which does not exist.", seq, sid)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// job loads the job an index entry points at; ok is false (and the
	// problem reported) when there is none to compare with.
	job := func(what string, seq uint64) (*Job, bool) {
		v := jobs.Get(u64(seq))
		if v == nil {
			c.problem("%s points at job %d, which does not exist.", what, seq)
			return nil, false
		}
		j := new(Job)
		if decode(v, j) != nil {
			return nil, false // reported above
		}
		return j, true
	}
	err = pending.ForEach(func(k, _ []byte) error {
		if len(k) != seqLen {
			c.problem("The outbox_pending entry %x is %d bytes long instead of %d.", k, len(k), seqLen)
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		if j, ok := job("The outbox_pending entry "+itoa(int64(seq)), seq); ok && j.State != JobPending {
			c.problem("The outbox_pending entry %d points at job %d, which is %s, not pending.", seq, seq, j.State)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = idem.ForEach(func(k, v []byte) error {
		if len(v) != seqLen {
			c.problem("The outbox_idem entry %q holds %d bytes instead of a job seq.", k, len(v))
			return nil
		}
		seq := binary.BigEndian.Uint64(v)
		if j, ok := job("The outbox_idem entry "+strconv.Quote(string(k)), seq); ok && j.IdemKey != string(k) {
			c.problem("The outbox_idem entry %q points at job %d, whose idempotency key is %q.", k, seq, j.IdemKey)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return sessions.ForEach(func(k, _ []byte) error {
		if len(k) != idLen+seqLen {
			c.problem("The outbox_sessions entry %x is %d bytes long instead of %d.", k, len(k), idLen+seqLen)
			return nil
		}
		var sid ulid.ULID
		copy(sid[:], k)
		seq := binary.BigEndian.Uint64(k[idLen:])
		if j, ok := job("The outbox_sessions entry of session "+sid.String(), seq); ok && j.SessionID != sid.String() {
			c.problem("The outbox_sessions entry of session %s points at job %d, which is about session %s.", sid, seq, j.SessionID)
		}
		return nil
	})
}

// checkPendingHead checks a pending job's outbox_pending entry (head), which
// the deliverer chooses jobs by without reading them.
func (c *checker) checkPendingHead(j *Job, seq uint64, head []byte) {
	if head == nil {
		c.problem("Pending job %d has no entry in the outbox_pending index.", seq)
		return
	}
	var h JobHead
	if err := decode(head, &h); err != nil {
		c.problem("The outbox_pending entry of job %d cannot be decoded: %v.", seq, err)
		return
	}
	if h.Seq != seq || h.Group != j.Group || !h.NextAttemptAt.Equal(j.NextAttemptAt.Time) {
		c.problem("The outbox_pending entry of job %d does not match the job (seq %d, group %q, next attempt %s).",
			seq, h.Seq, h.Group, h.NextAttemptAt.Format(parley.TimeLayout))
	}
}
