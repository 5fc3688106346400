package storage

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// SessionFilter selects sessions for Sessions, the admin listing.
type SessionFilter struct {
	// CustomerID restricts the listing to one customer ("" = all
	// customers); when set, the customer index is used.
	CustomerID string
	// State is queued, active or ended; "" means any state.
	State string
	// Since keeps sessions with CreatedAt >= Since; zero means no bound.
	Since time.Time
	// Limit caps the number of sessions returned; 0 means no limit.
	Limit int
}

// Sessions returns the sessions matching f, newest (by CreatedAt, then id)
// first. It reads as little as the filter allows: the customer index for
// one customer, the open index for queued or active sessions, and otherwise
// the sessions bucket backwards from the newest id, stopping at Since (ids
// are ULIDs made from CreatedAt, so key order is creation order).
func (tx *Tx) Sessions(f SessionFilter) ([]*parley.SessionRecord, error) {
	switch {
	case f.Limit < 0:
		return nil, fmt.Errorf("storage: sessions: %w", parley.Errorf(parley.EBadRequest, "Negative limit."))
	case f.State != "" && f.State != parley.StateQueued && f.State != parley.StateActive && f.State != parley.StateEnded:
		return nil, fmt.Errorf("storage: sessions: %w", parley.Errorf(parley.EBadRequest, "Unknown session state %q.", f.State))
	case f.CustomerID != "":
		return tx.customerSessions(f)
	case f.State == parley.StateQueued || f.State == parley.StateActive:
		return tx.openSessionsFiltered(f)
	}
	return tx.scanSessions(f)
}

// match reports whether r passes the state and Since parts of f.
func (f SessionFilter) match(r *parley.SessionRecord) bool {
	return (f.State == "" || r.State == f.State) && !r.CreatedAt.Before(f.Since)
}

// full reports whether out has reached f.Limit.
func (f SessionFilter) full(out []*parley.SessionRecord) bool {
	return f.Limit > 0 && len(out) >= f.Limit
}

// customerSessions walks one customer's index entries backwards, stopping
// at Since.
func (tx *Tx) customerSessions(f SessionFilter) ([]*parley.SessionRecord, error) {
	out := []*parley.SessionRecord{}
	if len(f.CustomerID) > maxCustomerIDBytes {
		return out, nil
	}
	b, err := tx.bucket(bucketCustomerSessions)
	if err != nil {
		return nil, err
	}
	prefix := customerPrefix(f.CustomerID)
	sinceMS := msKey(f.Since)
	sinceKey := append(bytes.Clone(prefix), sinceMS[:]...)
	c := b.Cursor()
	for k, _ := lastWithPrefix(c, prefix); k != nil && bytes.HasPrefix(k, prefix) && !f.full(out); k, _ = c.Prev() {
		if bytes.Compare(k, sinceKey) < 0 {
			break
		}
		r, err := tx.indexedSession(k[len(k)-idLen:])
		if err != nil {
			return nil, err
		}
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// openSessionsFiltered lists queued or active sessions through the open
// index.
func (tx *Tx) openSessionsFiltered(f SessionFilter) ([]*parley.SessionRecord, error) {
	open, err := tx.OpenSessions()
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(open, func(r *parley.SessionRecord) bool { return !f.match(r) })
	slices.SortFunc(out, func(a, b *parley.SessionRecord) int {
		return -cmp.Or(a.CreatedAt.Compare(b.CreatedAt.Time), strings.Compare(a.ID, b.ID))
	})
	if f.full(out) {
		out = out[:f.Limit]
	}
	return out, nil
}

// scanSessions walks the sessions bucket from the newest id backwards,
// stopping at the first id made before Since.
func (tx *Tx) scanSessions(f SessionFilter) ([]*parley.SessionRecord, error) {
	b, err := tx.bucket(bucketSessions)
	if err != nil {
		return nil, err
	}
	sinceMS := msKey(f.Since)
	out := []*parley.SessionRecord{}
	c := b.Cursor()
	for k, v := c.Last(); k != nil && !f.full(out); k, v = c.Prev() {
		if len(k) != idLen {
			return nil, fmt.Errorf("storage: corrupt session key of %d bytes", len(k))
		}
		var sid ulid.ULID
		copy(sid[:], k)
		if !f.Since.IsZero() && bytes.Compare(u64(sid.Time()), sinceMS[:]) < 0 {
			break
		}
		r := new(parley.SessionRecord)
		if err := decode(v, r); err != nil {
			return nil, fmt.Errorf("session %s: %w", sid, err)
		}
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// CustomerSessionIDs returns the ids of every session of the customer,
// whatever its age or state, oldest (by CreatedAt, then id) first. It reads
// only the customer index; erasure uses it.
func (tx *Tx) CustomerSessionIDs(customerID string) ([]string, error) {
	out := []string{}
	if customerID == "" || len(customerID) > maxCustomerIDBytes {
		return out, nil
	}
	b, err := tx.bucket(bucketCustomerSessions)
	if err != nil {
		return nil, err
	}
	prefix := customerPrefix(customerID)
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != len(prefix)+msLen+idLen {
			return nil, fmt.Errorf("storage: corrupt customer index key of %d bytes", len(k))
		}
		var sid ulid.ULID
		copy(sid[:], k[len(k)-idLen:])
		out = append(out, sid.String())
	}
	return out, nil
}
