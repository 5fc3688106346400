package storage

import (
	"bytes"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"

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

// DeleteSession removes a session with its events, its client_msg_id
// entries and every index entry pointing at it (parley.ENotFound if absent).
func (tx *Tx) DeleteSession(id string) error {
	sid, err := parseID(id)
	if err != nil {
		return err
	}
	r, err := tx.session(sid)
	if err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("storage: delete: %w", parley.Errorf(parley.ENotFound, "Session %s not found.", id))
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
	for _, name := range [][]byte{bucketEvents, bucketClientMsgIDs} {
		if err := tx.deletePrefix(name, sid[:]); err != nil {
			return err
		}
	}
	return tx.del(bucketSessions, sid[:])
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
