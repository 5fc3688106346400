package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// AppendAudit stores an audit entry under a new ULID made from the
// transaction time. It sets e.ID to that ULID (replacing any id the caller
// set, so that key order is append order) and e.At to the transaction time
// if it is zero. The entry is stored as given: callers must never put
// message text in it.
func (tx *Tx) AppendAudit(e *parley.AuditEntry) error {
	if e == nil {
		return fmt.Errorf("storage: append audit: %w", parley.Errorf(parley.EBadRequest, "Missing audit entry."))
	}
	if e.Action == "" {
		return fmt.Errorf("storage: append audit: %w", parley.Errorf(parley.EBadRequest, "Audit entry has no action."))
	}
	e.ID = parley.NewID(tx.now)
	id, err := parseID(e.ID)
	if err != nil {
		return err
	}
	if e.At.IsZero() {
		e.At = parley.TimeOf(tx.now)
	} else {
		e.At = parley.TimeOf(e.At.Time)
	}
	return tx.putJSON(bucketAudit, bytes.Clone(id[:]), e)
}

// Audit returns audit entries newest first: those with At at or after since
// (zero = all), at most limit of them (0 = all). It walks the audit bucket
// backwards and stops at the first entry whose id time is before since, so
// old history is never read.
func (tx *Tx) Audit(since time.Time, limit int) ([]parley.AuditEntry, error) {
	if limit < 0 {
		return nil, fmt.Errorf("storage: audit: %w", parley.Errorf(parley.EBadRequest, "Negative limit."))
	}
	b, err := tx.bucket(bucketAudit)
	if err != nil {
		return nil, err
	}
	sinceMS := msKey(since)
	out := []parley.AuditEntry{}
	c := b.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if limit > 0 && len(out) == limit {
			break
		}
		if len(k) != idLen {
			return nil, fmt.Errorf("storage: corrupt audit key of %d bytes", len(k))
		}
		var id ulid.ULID
		copy(id[:], k)
		if !since.IsZero() && bytes.Compare(u64(id.Time()), sinceMS[:]) < 0 {
			break
		}
		var e parley.AuditEntry
		if err := decode(v, &e); err != nil {
			return nil, fmt.Errorf("audit entry %s: %w", id, err)
		}
		if e.At.Before(since) {
			continue // same millisecond as since but earlier, or At set by the caller
		}
		out = append(out, e)
	}
	return out, nil
}
