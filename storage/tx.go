package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tx is a transaction on the database, read-only inside View and read-write
// inside Update. It must not be used after the function it was passed to
// returns, nor from several goroutines. Everything it returns is a copy that
// stays valid after the transaction ends.
type Tx struct {
	tx  *bolt.Tx
	now time.Time
	// appended lists the events Append stored, for Appended (outbox.go).
	appended []AppendedEvent
}

// Now returns the time the transaction function started, from the
// database's clock.
func (tx *Tx) Now() time.Time { return tx.now }

// bucket returns a bucket created by Open.
func (tx *Tx) bucket(name []byte) (*bolt.Bucket, error) {
	b := tx.tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("storage: bucket %s missing", name)
	}
	return b, nil
}

// put stores k/v in bucket name, wrapping errors with context.
func (tx *Tx) put(name, k, v []byte) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("storage: put into %s: %w", name, err)
	}
	return nil
}

// del deletes k from bucket name, wrapping errors with context.
func (tx *Tx) del(name, k []byte) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("storage: delete from %s: %w", name, err)
	}
	return nil
}

// putJSON stores v encoded as JSON.
func (tx *Tx) putJSON(name, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: encode %T: %w", v, err)
	}
	return tx.put(name, k, data)
}

// decode decodes a stored JSON value. json.Unmarshal copies what it keeps,
// so the result never points into the memory map.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("storage: decode %T: %w", v, err)
	}
	return nil
}

// optBucket returns a bucket, or nil when the file predates it (a file
// opened read-only is never given new buckets).
func (tx *Tx) optBucket(name []byte) *bolt.Bucket { return tx.tx.Bucket(name) }
