package storage

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parley-chat/parley/parley"
)

// Session returns the stored session with the given id. It fails with
// parley.ENotFound if there is none and parley.EBadRequest if id is not a
// ULID.
func (tx *Tx) Session(id string) (*parley.SessionRecord, error) {
	sid, err := parseID(id)
	if err != nil {
		return nil, err
	}
	r, err := tx.session(sid)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", id))
	}
	return r, nil
}

// session loads a session by binary id, returning nil, nil if absent.
func (tx *Tx) session(sid ulid.ULID) (*parley.SessionRecord, error) {
	b, err := tx.bucket(bucketSessions)
	if err != nil {
		return nil, err
	}
	v := b.Get(sid[:])
	if v == nil {
		return nil, nil
	}
	r := new(parley.SessionRecord)
	if err := decode(v, r); err != nil {
		return nil, fmt.Errorf("session %s: %w", sid, err)
	}
	return r, nil
}

// validSession checks what PutSession relies on.
func validSession(r *parley.SessionRecord) error {
	switch {
	case r == nil:
		return parley.Errorf(parley.EBadRequest, "Missing session.")
	case r.Customer.ID == "":
		return parley.Errorf(parley.EBadRequest, "Session %s has no customer.", r.ID)
	case len(r.Customer.ID) > maxCustomerIDBytes:
		return parley.Errorf(parley.EBadRequest, "Customer id is too long.")
	}
	switch r.State {
	case parley.StateQueued, parley.StateActive, parley.StateEnded:
		return nil
	}
	return parley.Errorf(parley.EBadRequest, "Session %s has unknown state %q.", r.ID, r.State)
}

// PutSession writes the record and keeps every index consistent with it,
// comparing against the previously stored record:
//   - customer index: an entry per session ever, for CustomerSessions;
//   - open index: customer id -> session id while State != ended. If the
//     customer already has a different open session, PutSession fails with
//     parley.EConflict and writes nothing;
//   - queue index: QueuedAt + session id while State == queued;
//   - ended index: EndedAt + session id while State == ended.
func (tx *Tx) PutSession(r *parley.SessionRecord) error {
	if err := validSession(r); err != nil {
		return fmt.Errorf("storage: put session: %w", err)
	}
	sid, err := parseID(r.ID)
	if err != nil {
		return err
	}
	old, err := tx.session(sid)
	if err != nil {
		return err
	}
	openB, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return err
	}
	cid := []byte(r.Customer.ID)
	if r.Open() {
		if cur := openB.Get(cid); cur != nil && !bytes.Equal(cur, sid[:]) {
			return fmt.Errorf("storage: put session %s: %w", r.ID, parley.Errorf(parley.EConflict,
				"Customer already has another open session."))
		}
	}

	// Remove the old record's index entries that the new one does not keep.
	oldKeys, newKeys := sessionIndexKeys(old, sid), sessionIndexKeys(r, sid)
	for _, ok := range oldKeys {
		if !slices.ContainsFunc(newKeys, ok.equal) {
			if err := tx.del(ok.bucket, ok.key); err != nil {
				return err
			}
		}
	}
	if old != nil && old.Open() && (!r.Open() || old.Customer.ID != r.Customer.ID) {
		oldCID := []byte(old.Customer.ID)
		if cur := openB.Get(oldCID); bytes.Equal(cur, sid[:]) {
			if err := tx.del(bucketOpenSessions, oldCID); err != nil {
				return err
			}
		}
	}
	for _, nk := range newKeys {
		if !slices.ContainsFunc(oldKeys, nk.equal) {
			if err := tx.put(nk.bucket, nk.key, []byte{}); err != nil {
				return err
			}
		}
	}
	if r.Open() {
		if err := tx.put(bucketOpenSessions, cid, bytes.Clone(sid[:])); err != nil {
			return err
		}
	}
	return tx.putJSON(bucketSessions, bytes.Clone(sid[:]), r)
}

// indexKey is one entry of a set-like index (value is empty).
type indexKey struct {
	bucket []byte
	key    []byte
}

func (k indexKey) equal(o indexKey) bool {
	return bytes.Equal(k.bucket, o.bucket) && bytes.Equal(k.key, o.key)
}

// sessionIndexKeys returns the customer, queue and ended index entries of r
// (none for nil).
func sessionIndexKeys(r *parley.SessionRecord, sid ulid.ULID) []indexKey {
	if r == nil {
		return nil
	}
	keys := []indexKey{{bucketCustomerSessions, customerKey(r.Customer.ID, r.CreatedAt.Time, sid)}}
	switch r.State {
	case parley.StateQueued:
		keys = append(keys, indexKey{bucketQueue, timeIDKey(r.QueuedAt.Time, sid)})
	case parley.StateEnded:
		keys = append(keys, indexKey{bucketEnded, timeIDKey(r.EndedAt.Time, sid)})
	}
	return keys
}

// OpenSessionOf returns the customer's session that has not ended, or nil,
// nil if there is none.
func (tx *Tx) OpenSessionOf(customerID string) (*parley.SessionRecord, error) {
	if customerID == "" || len(customerID) > maxCustomerIDBytes {
		return nil, nil
	}
	b, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return nil, err
	}
	v := b.Get([]byte(customerID))
	if v == nil {
		return nil, nil
	}
	return tx.indexedSession(v)
}

// indexedSession loads the session an index entry points at. A dangling
// entry is an internal error.
func (tx *Tx) indexedSession(id []byte) (*parley.SessionRecord, error) {
	var sid ulid.ULID
	if len(id) != idLen {
		return nil, fmt.Errorf("storage: corrupt index entry of %d bytes", len(id))
	}
	copy(sid[:], id)
	r, err := tx.session(sid)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("storage: index points at missing session %s", sid)
	}
	return r, nil
}

// CustomerSessions returns the customer's sessions created at or after
// since, plus the open one whatever its age, newest (by CreatedAt, then id)
// first. It walks the customer index backwards from the newest entry and
// stops at the first one older than since.
func (tx *Tx) CustomerSessions(customerID string, since time.Time) ([]*parley.SessionRecord, error) {
	out, _, err := tx.CustomerSessionsPage(customerID, since, "", 0)
	return out, err
}

// CustomerSessionsPage returns one page of CustomerSessions: at most limit
// sessions (0: all) that come after the session before (an id from an
// earlier page; "" starts at the newest), and whether more follow. An open
// session older than since comes last. A before that is not one of the
// customer's sessions is a bad_request.
func (tx *Tx) CustomerSessionsPage(customerID string, since time.Time, before string, limit int) ([]*parley.SessionRecord, bool, error) {
	out := []*parley.SessionRecord{}
	if customerID == "" || len(customerID) > maxCustomerIDBytes {
		return out, false, nil
	}
	b, err := tx.bucket(bucketCustomerSessions)
	if err != nil {
		return nil, false, err
	}
	open, err := tx.OpenSessionOf(customerID)
	if err != nil {
		return nil, false, err
	}
	// The open session is listed from the index when it is in the window,
	// and after the window's sessions otherwise.
	openLast := open != nil && open.CreatedAt.Before(since)
	prefix := customerPrefix(customerID)
	c := b.Cursor()
	var k []byte
	switch {
	case before != "":
		r, err := tx.Session(before)
		if parley.ErrorCode(err) == parley.ENotFound || (err == nil && r.Customer.ID != customerID) {
			return nil, false, parley.Errorf(parley.EBadRequest, "before is not one of your sessions.")
		} else if err != nil {
			return nil, false, err
		}
		if openLast && r.ID == open.ID {
			return out, false, nil // the open session was the last
		}
		sid, err := parseID(r.ID)
		if err != nil {
			return nil, false, err
		}
		if k, _ = c.Seek(customerKey(customerID, r.CreatedAt.Time, sid)); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	default:
		if end := prefixEnd(prefix); end == nil {
			k, _ = c.Last()
		} else if k, _ = c.Seek(end); k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
	}
	sinceMS := msKey(since)
	sinceKey := append(bytes.Clone(prefix), sinceMS[:]...)
	for ; k != nil && bytes.HasPrefix(k, prefix) && bytes.Compare(k, sinceKey) >= 0; k, _ = c.Prev() {
		r, err := tx.indexedSession(k[len(k)-idLen:])
		if err != nil {
			return nil, false, err
		}
		if r.CreatedAt.Before(since) {
			continue // same millisecond as since but earlier
		}
		if limit > 0 && len(out) == limit {
			return out, true, nil
		}
		out = append(out, r)
	}
	if openLast {
		if limit > 0 && len(out) == limit {
			return out, true, nil
		}
		out = append(out, open)
	}
	return out, false, nil
}

// QueuedSessions returns the queued sessions in queue order: by QueuedAt,
// then id.
func (tx *Tx) QueuedSessions() ([]*parley.SessionRecord, error) {
	b, err := tx.bucket(bucketQueue)
	if err != nil {
		return nil, err
	}
	out := []*parley.SessionRecord{}
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != msLen+idLen {
			return nil, fmt.Errorf("storage: corrupt queue key of %d bytes", len(k))
		}
		r, err := tx.indexedSession(k[msLen:])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// OpenSessions returns every session that has not ended, ordered by id
// (creation order).
func (tx *Tx) OpenSessions() ([]*parley.SessionRecord, error) {
	b, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return nil, err
	}
	out := []*parley.SessionRecord{}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r, err := tx.indexedSession(v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *parley.SessionRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
