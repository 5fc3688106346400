package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

// LastSeq returns the seq of the session's last event, or 0 if it has none.
// It positions a cursor just past the session's keys and steps back once.
func (tx *Tx) LastSeq(sessionID string) (uint64, error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return 0, err
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return 0, err
	}
	k, _ := lastWithPrefix(b.Cursor(), sid[:])
	if k == nil {
		return 0, nil
	}
	return binary.BigEndian.Uint64(k[idLen:]), nil
}

// lastWithPrefix positions c on the last key starting with prefix and
// returns it, or nil if there is none.
func lastWithPrefix(c *bolt.Cursor, prefix []byte) (k, v []byte) {
	if end := prefixEnd(prefix); end == nil {
		k, v = c.Last()
	} else if k, _ = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return nil, nil
	}
	return k, v
}

// Append stores ev as the session's next event. It sets ev.Seq to
// LastSeq+1, ev.ID to a new id if empty and ev.At to the transaction time if
// zero. If ev.ClientMsgID is set and was already stored for this session,
// Append stores nothing, overwrites *ev with the stored event and returns
// dup=true. The session must exist (parley.ENotFound otherwise).
func (tx *Tx) Append(sessionID string, ev *parley.Event) (dup bool, err error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return false, err
	}
	if ev == nil {
		return false, fmt.Errorf("storage: append: %w", parley.Errorf(parley.EBadRequest, "Missing event."))
	}
	if len(ev.ClientMsgID) > parley.MaxClientMsgIDBytes {
		return false, fmt.Errorf("storage: append: %w", parley.Errorf(parley.EBadRequest,
			"client_msg_id is longer than %d bytes.", parley.MaxClientMsgIDBytes))
	}
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return false, err
	}
	if sessions.Get(sid[:]) == nil {
		return false, fmt.Errorf("storage: append: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", sessionID))
	}
	var cmKey []byte
	if ev.ClientMsgID != "" {
		cm, err := tx.bucket(bucketClientMsgIDs)
		if err != nil {
			return false, err
		}
		cmKey = clientMsgKey(sid, ev.ClientMsgID)
		if v := cm.Get(cmKey); v != nil {
			if len(v) != seqLen {
				return false, fmt.Errorf("storage: corrupt client_msg_id entry of %d bytes", len(v))
			}
			stored, err := tx.event(sid, binary.BigEndian.Uint64(v))
			if err != nil {
				return false, err
			}
			*ev = stored
			return true, nil
		}
	}
	events, err := tx.bucket(bucketEvents)
	if err != nil {
		return false, err
	}
	var seq uint64 = 1
	if k, _ := lastWithPrefix(events.Cursor(), sid[:]); k != nil {
		seq = binary.BigEndian.Uint64(k[idLen:]) + 1
	}
	ev.Seq = seq
	if ev.ID == "" {
		ev.ID = parley.NewID(tx.now)
	}
	if ev.At.IsZero() {
		ev.At = parley.TimeOf(tx.now)
	} else {
		ev.At = parley.TimeOf(ev.At.Time)
	}
	if err := tx.putJSON(bucketEvents, eventKey(sid, seq), ev); err != nil {
		return false, err
	}
	if cmKey != nil {
		if err := tx.put(bucketClientMsgIDs, cmKey, u64(seq)); err != nil {
			return false, err
		}
	}
	tx.appended = append(tx.appended, AppendedEvent{SessionID: sessionID, Event: *ev})
	return false, nil
}

// Event returns one event of a session (parley.ENotFound if absent).
func (tx *Tx) Event(sessionID string, seq uint64) (parley.Event, error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return parley.Event{}, err
	}
	return tx.event(sid, seq)
}

func (tx *Tx) event(sid ulid.ULID, seq uint64) (parley.Event, error) {
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return parley.Event{}, err
	}
	v := b.Get(eventKey(sid, seq))
	if v == nil {
		return parley.Event{}, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound,
			"Event %d of session %s not found.", seq, sid))
	}
	var ev parley.Event
	if err := decode(v, &ev); err != nil {
		return parley.Event{}, fmt.Errorf("event %d of session %s: %w", seq, sid, err)
	}
	return ev, nil
}

// EventQuery selects a page of a session's events.
type EventQuery struct {
	// AfterSeq, if > 0, selects events with seq > AfterSeq, ascending (for
	// resuming).
	AfterSeq uint64
	// BeforeSeq, used when AfterSeq is 0, selects the last Limit events with
	// seq < BeforeSeq (0 = no bound), returned oldest first.
	BeforeSeq uint64
	// Limit caps the number of events returned; 0 means no limit.
	Limit int
	// NoWhispers skips whisper events (the customer's view); Limit counts
	// visible events only.
	NoWhispers bool
}

// Events returns a page of the session's events, oldest first, and whether
// more visible events exist beyond it: older ones for the BeforeSeq form,
// newer ones for the AfterSeq form. A session without events (or that does
// not exist) yields an empty page.
func (tx *Tx) Events(sessionID string, q EventQuery) (events []parley.Event, more bool, err error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return nil, false, err
	}
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("storage: events: %w", parley.Errorf(parley.EBadRequest, "Negative limit."))
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return nil, false, err
	}
	c := b.Cursor()
	prefix := sid[:]
	events = []parley.Event{}
	var k, v []byte
	var next func() ([]byte, []byte)
	if q.AfterSeq > 0 {
		if q.AfterSeq == math.MaxUint64 {
			return events, false, nil
		}
		k, v = c.Seek(eventKey(sid, q.AfterSeq+1))
		next = c.Next
	} else {
		if q.BeforeSeq == 0 {
			k, v = lastWithPrefix(c, prefix)
		} else if k, _ = c.Seek(eventKey(sid, q.BeforeSeq)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		next = c.Prev
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = next() {
		var ev parley.Event
		if err := decode(v, &ev); err != nil {
			return nil, false, fmt.Errorf("event %x of session %s: %w", k[idLen:], sessionID, err)
		}
		if q.NoWhispers && ev.Whisper {
			continue
		}
		if q.Limit > 0 && len(events) == q.Limit {
			more = true
			break
		}
		events = append(events, ev)
	}
	if q.AfterSeq == 0 {
		slices.Reverse(events)
	}
	return events, more, nil
}

// EachEvent calls fn for every event of the session, oldest first, one at
// a time, so a whole session can be written out without holding it in
// memory; noWhispers skips whispers. It stops at fn's first error.
func (tx *Tx) EachEvent(sessionID string, noWhispers bool, fn func(parley.Event) error) error {
	sid, err := parseID(sessionID)
	if err != nil {
		return err
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]); k, v = c.Next() {
		var ev parley.Event
		if err := decode(v, &ev); err != nil {
			return fmt.Errorf("event %x of session %s: %w", k[idLen:], sessionID, err)
		}
		if noWhispers && ev.Whisper {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
