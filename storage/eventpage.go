package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/parley-chat/parley/parley"
)

// EventPageQuery selects one page of a session's events in seq order, so
// that a long session can be read in several short read transactions
// rather than in one that stays open while its reader writes them out.
type EventPageQuery struct {
	// AfterSeq: the page starts with the first event whose seq is
	// greater.
	AfterSeq uint64
	// ThroughSeq is the last seq the page may include: the session's
	// LastSeq when the reading started, so that every page belongs to the
	// same transcript whatever is appended meanwhile. 0 selects nothing.
	ThroughSeq uint64
	// MaxEvents bounds the events the page reads (whispers it skips
	// count too); MaxBytes bounds their stored size. A page reads at
	// least one event; 0 means no bound.
	MaxEvents int
	MaxBytes  int
	// NoWhispers skips whisper events (the customer's view).
	NoWhispers bool
}

// EventPage returns one page of the session's events, oldest first, and
// the seq to pass as AfterSeq for the next page. done reports that no
// event of the range is left beyond the page: the last one was read, or
// the session has no further events (it was purged meanwhile, say).
func (tx *Tx) EventPage(sessionID string, q EventPageQuery) (events []parley.Event, next uint64, done bool, err error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return nil, 0, false, err
	}
	events, next = []parley.Event{}, q.AfterSeq
	if q.AfterSeq >= q.ThroughSeq {
		return events, next, true, nil
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return nil, 0, false, err
	}
	c := b.Cursor()
	read, size := 0, 0
	for k, v := c.Seek(eventKey(sid, q.AfterSeq+1)); k != nil && bytes.HasPrefix(k, sid[:]); k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k[idLen:])
		if seq > q.ThroughSeq {
			return events, next, true, nil
		}
		if read > 0 && ((q.MaxEvents > 0 && read >= q.MaxEvents) || (q.MaxBytes > 0 && size >= q.MaxBytes)) {
			return events, next, false, nil
		}
		read, size, next = read+1, size+len(v), seq
		var ev parley.Event
		if err := decode(v, &ev); err != nil {
			return nil, 0, false, fmt.Errorf("event %d of session %s: %w", seq, sessionID, err)
		}
		if q.NoWhispers && ev.Whisper {
			continue
		}
		events = append(events, ev)
		if seq == q.ThroughSeq {
			break
		}
	}
	return events, next, true, nil
}

// OpenReadTxs returns the number of read transactions open right now
// (bbolt's OpenTxN). A long-lived one stalls the writer when the file
// must grow, so a reader that writes to a network client must not hold
// one meanwhile; tests check that with this.
func (db *DB) OpenReadTxs() int {
	return db.bolt.Stats().OpenTxN
}
