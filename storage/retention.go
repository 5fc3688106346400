package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

// EndedBefore returns the ids of ended sessions whose EndedAt is before t,
// oldest first, at most limit of them (0 = no limit). It reads the ended
// index and is meant for the retention janitor.
func (tx *Tx) EndedBefore(t time.Time, limit int) ([]string, error) {
	b, err := tx.bucket(bucketEnded)
	if err != nil {
		return nil, err
	}
	bound := msKey(t)
	out := []string{}
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(len(k), msLen)], bound[:]) < 0; k, _ = c.Next() {
		if limit > 0 && len(out) == limit {
			break
		}
		if len(k) != msLen+idLen {
			return nil, fmt.Errorf("storage: corrupt ended key of %d bytes", len(k))
		}
		var sid ulid.ULID
		copy(sid[:], k[msLen:])
		out = append(out, sid.String())
	}
	return out, nil
}

// DeleteSession removes an ended session with its events, its
// client_msg_id entries, its file records and every index entry pointing
// at it, all at once. The blobs of its files stay until DB.CollectBlobs is
// called with the hashes (Tx.SessionFileHashes, read before).
// It fails with parley.ENotFound if the session does not exist and with
// parley.EConflict if it is still open. DeleteSessionPart is the bounded
// form for huge sessions.
func (tx *Tx) DeleteSession(id string) error {
	sid, r, err := tx.deletableSession(id)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketEvents, bucketClientMsgIDs} {
		if err := tx.deletePrefix(name, sid[:]); err != nil {
			return err
		}
	}
	if _, err := tx.deleteSessionFiles(sid, 0); err != nil {
		return err
	}
	return tx.deleteRecord(r, sid)
}

// DeleteSessionPart deletes at most maxKeys of the session's event and
// client_msg_id keys; once none remain it deletes the record and its index
// entries too and returns done=true, so the janitor can purge a huge session
// in several bounded transactions. client_msg_id entries go first and events
// are deleted from the last seq down, so between calls the remains still
// satisfy Check: every client_msg_id entry points at an event and seqs run
// 1..N without gaps. It fails with parley.ENotFound if the session does not
// exist (for example because an earlier call finished it), parley.EConflict
// if it is open and parley.EBadRequest if maxKeys < 1.
func (tx *Tx) DeleteSessionPart(id string, maxKeys int) (done bool, err error) {
	if maxKeys < 1 {
		return false, fmt.Errorf("storage: delete session part: %w",
			parley.Errorf(parley.EBadRequest, "maxKeys must be at least 1."))
	}
	sid, r, err := tx.deletableSession(id)
	if err != nil {
		return false, err
	}
	// File records go first: they point at the session, not at events.
	nf, err := tx.deleteSessionFiles(sid, maxKeys)
	if err != nil {
		return false, err
	}
	left := maxKeys - nf
	if left == 0 {
		return false, nil
	}
	for _, part := range []struct {
		name     []byte
		backward bool
	}{{bucketClientMsgIDs, false}, {bucketEvents, true}} {
		b, err := tx.bucket(part.name)
		if err != nil {
			return false, err
		}
		keys := prefixKeys(b.Cursor(), sid[:], part.backward, left)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return false, fmt.Errorf("storage: delete from %s: %w", part.name, err)
			}
		}
		left -= len(keys)
		if left == 0 {
			break
		}
	}
	for _, name := range [][]byte{bucketClientMsgIDs, bucketEvents} {
		b, err := tx.bucket(name)
		if err != nil {
			return false, err
		}
		if k, _ := b.Cursor().Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]) {
			return false, nil
		}
	}
	return true, tx.deleteRecord(r, sid)
}

// deletableSession loads a session that may be deleted: it must exist
// (ENotFound) and have ended (EConflict).
func (tx *Tx) deletableSession(id string) (ulid.ULID, *parley.SessionRecord, error) {
	sid, err := parseID(id)
	if err != nil {
		return sid, nil, err
	}
	r, err := tx.session(sid)
	if err != nil {
		return sid, nil, err
	}
	if r == nil {
		return sid, nil, fmt.Errorf("storage: delete: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", id))
	}
	if r.Open() {
		return sid, nil, fmt.Errorf("storage: delete: %w", parley.Errorf(parley.EConflict,
			"Session %s is still open; end it before deleting it.", id))
	}
	return sid, r, nil
}

// deleteRecord deletes a session record and every index entry pointing at
// it.
func (tx *Tx) deleteRecord(r *parley.SessionRecord, sid ulid.ULID) error {
	if err := tx.deleteRoutings(sid[:]); err != nil {
		return err
	}
	if err := tx.deleteSessionJobs(sid); err != nil {
		return err
	}
	for _, ik := range sessionIndexKeys(r, sid) {
		if err := tx.del(ik.bucket, ik.key); err != nil {
			return err
		}
	}
	openB, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return err
	}
	if cid := []byte(r.Customer.ID); bytes.Equal(openB.Get(cid), sid[:]) {
		if err := tx.del(bucketOpenSessions, cid); err != nil {
			return err
		}
	}
	return tx.del(bucketSessions, sid[:])
}

// prefixKeys returns copies of up to limit keys starting with prefix, in
// ascending order or, if backward, descending from the last one.
func prefixKeys(c *bolt.Cursor, prefix []byte, backward bool, limit int) [][]byte {
	var keys [][]byte
	var k []byte
	next := c.Next
	if backward {
		k, _ = lastWithPrefix(c, prefix)
		next = c.Prev
	} else {
		k, _ = c.Seek(prefix)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(keys) < limit; k, _ = next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

// SessionSize returns the number of events of a session and the bytes it
// occupies: the sum of key and value lengths of its record, its events, its
// client_msg_id entries and its index entries (parley.ENotFound if absent).
// Purge reports use it; it does not count bbolt's page overhead.
func (tx *Tx) SessionSize(id string) (events int, size int64, err error) {
	sid, err := parseID(id)
	if err != nil {
		return 0, 0, err
	}
	sessions, err := tx.bucket(bucketSessions)
	if err != nil {
		return 0, 0, err
	}
	rv := sessions.Get(sid[:])
	if rv == nil {
		return 0, 0, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", id))
	}
	r := new(parley.SessionRecord)
	if err := decode(rv, r); err != nil {
		return 0, 0, fmt.Errorf("session %s: %w", id, err)
	}
	size = int64(idLen + len(rv))
	for _, ik := range sessionIndexKeys(r, sid) {
		size += int64(len(ik.key))
	}
	openB, err := tx.bucket(bucketOpenSessions)
	if err != nil {
		return 0, 0, err
	}
	if cid := []byte(r.Customer.ID); bytes.Equal(openB.Get(cid), sid[:]) {
		size += int64(len(cid) + idLen)
	}
	meta, _ := tx.fileBytes(sid)
	size += meta
	for _, name := range [][]byte{bucketEvents, bucketClientMsgIDs} {
		b, err := tx.bucket(name)
		if err != nil {
			return 0, 0, err
		}
		c := b.Cursor()
		for k, v := c.Seek(sid[:]); k != nil && bytes.HasPrefix(k, sid[:]); k, v = c.Next() {
			size += int64(len(k) + len(v))
			if string(name) == string(bucketEvents) {
				events++
			}
		}
	}
	return events, size, nil
}

// deletePrefix deletes every key of bucket name that starts with prefix.
// Keys are collected first and deleted after the cursor walk.
func (tx *Tx) deletePrefix(name, prefix []byte) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("storage: delete from %s: %w", name, err)
		}
	}
	return nil
}
