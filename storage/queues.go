package storage

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
)

// Buckets of queues and routing decisions.
var (
	// bucketQueues maps a queue name to its parley.Queue.
	bucketQueues = []byte("queues")
	// bucketRouting maps session id (16 bytes) + decision time (8 bytes
	// ms) + agent id to the parley.Routing that gave the session to the
	// agent.
	bucketRouting = []byte("routing")
)

func init() {
	allBuckets = append(allBuckets, bucketQueues, bucketRouting)
}

// initQueues creates the default queue if it is missing; Open runs it.
func initQueues(btx *bolt.Tx, now parley.Time) error {
	b := btx.Bucket(bucketQueues)
	if b.Get([]byte(parley.DefaultQueue)) != nil {
		return nil
	}
	data, err := encodeJSON(parley.Queue{Name: parley.DefaultQueue, CreatedAt: now})
	if err != nil {
		return err
	}
	if err := b.Put([]byte(parley.DefaultQueue), data); err != nil {
		return fmt.Errorf("create the default queue: %w", err)
	}
	return nil
}

// Queues returns every queue, ordered by name. The default queue is
// always among them, also in an older file opened read-only.
func (tx *Tx) Queues() ([]parley.Queue, error) {
	out := []parley.Queue{}
	if b := tx.tx.Bucket(bucketQueues); b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var q parley.Queue
			if err := decode(v, &q); err != nil {
				return nil, fmt.Errorf("queue %s: %w", k, err)
			}
			out = append(out, q)
		}
	}
	if !slices.ContainsFunc(out, func(q parley.Queue) bool { return q.Name == parley.DefaultQueue }) {
		out = append(out, parley.Queue{Name: parley.DefaultQueue})
		slices.SortFunc(out, func(a, b parley.Queue) int { return strings.Compare(a.Name, b.Name) })
	}
	return out, nil
}

// Queue returns the named queue (parley.ENotFound if absent).
func (tx *Tx) Queue(name string) (*parley.Queue, error) {
	qs, err := tx.Queues()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if q.Name == name {
			return &q, nil
		}
	}
	return nil, fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Queue %q not found.", name))
}

// AddQueue stores a new queue; a zero CreatedAt is set to the transaction
// time. It fails with parley.EConflict if the queue exists.
func (tx *Tx) AddQueue(q parley.Queue) error {
	if err := parley.ValidQueueName(q.Name); err != nil {
		return fmt.Errorf("storage: add queue: %w", err)
	}
	b, err := tx.bucket(bucketQueues)
	if err != nil {
		return err
	}
	if b.Get([]byte(q.Name)) != nil {
		return fmt.Errorf("storage: %w", parley.Errorf(parley.EConflict, "Queue %q exists.", q.Name))
	}
	if q.CreatedAt.IsZero() {
		q.CreatedAt = parley.TimeOf(tx.now)
	}
	return tx.putJSON(bucketQueues, []byte(q.Name), q)
}

// DeleteQueue removes a queue. The default queue cannot be removed
// (parley.EConflict); an unknown queue is parley.ENotFound. Whether
// sessions still wait in it is the caller's to check.
func (tx *Tx) DeleteQueue(name string) error {
	if name == parley.DefaultQueue {
		return fmt.Errorf("storage: %w", parley.Errorf(parley.EConflict, "The default queue cannot be removed."))
	}
	b, err := tx.bucket(bucketQueues)
	if err != nil {
		return err
	}
	if b.Get([]byte(name)) == nil {
		return fmt.Errorf("storage: %w", parley.Errorf(parley.ENotFound, "Queue %q not found.", name))
	}
	return tx.del(bucketQueues, []byte(name))
}

// PutRouting stores a routing decision with its session.
func (tx *Tx) PutRouting(r *parley.Routing) error {
	sid, err := parseID(r.SessionID)
	if err != nil {
		return err
	}
	at := msKey(r.At.Time)
	key := append(append(sid[:], at[:]...), r.AgentID...)
	return tx.putJSON(bucketRouting, key, r)
}

// Routings returns the routing decisions of a session, oldest first.
func (tx *Tx) Routings(sessionID string) ([]parley.Routing, error) {
	sid, err := parseID(sessionID)
	if err != nil {
		return nil, err
	}
	out := []parley.Routing{}
	b := tx.tx.Bucket(bucketRouting)
	if b == nil {
		return out, nil // an older file opened read-only
	}
	c := b.Cursor()
	for k, v := c.Seek(sid[:]); k != nil && len(k) >= idLen && string(k[:idLen]) == string(sid[:]); k, v = c.Next() {
		var r parley.Routing
		if err := decode(v, &r); err != nil {
			return nil, fmt.Errorf("routing of %s: %w", sessionID, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// deleteRoutings deletes the routing decisions of a session.
func (tx *Tx) deleteRoutings(sid []byte) error { return tx.deletePrefix(bucketRouting, sid) }

// encodeJSON encodes a stored value.
func encodeJSON(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("storage: encode %T: %w", v, err)
	}
	return data, nil
}
