package storage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// States of an op, so that an op whose context ends while queued is either
// run or abandoned, never both.
const (
	opPending int32 = iota
	opStarted
	opCancelled
)

// op is one Update waiting for the writer.
type op struct {
	ctx   context.Context
	fn    func(tx *Tx) error
	done  chan error // buffered (1): the writer never blocks on it
	state atomic.Int32
}

// Update runs fn inside the next group commit and returns after that commit
// is durable (fsync'd). If ctx ends before fn starts, Update returns
// ctx.Err() and fn is not run; once fn has started, Update waits for the
// commit. fn may be run more than once (when another update of the same batch
// fails, the batch is retried one update per transaction); only the effects
// of its last run count, so fn must have no side effects outside tx other
// than filling in values it returns, and must not call Update or View
// (the writer would deadlock). After Close, Update fails with
// parley.EUnavailable.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return errors.New("storage: Update called with a nil function")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return errClosed()
	}
	select {
	case db.ops <- o:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		if o.state.CompareAndSwap(opPending, opCancelled) {
			return ctx.Err()
		}
		return <-o.done
	}
}

// writeLoop is the single writer goroutine. It takes one op (blocking),
// drains every op already queued up to maxBatch and commits them together,
// so everything queued during one commit's fsync goes into the next commit.
// It exits when ops is closed and drained.
func (db *DB) writeLoop() {
	defer db.writerWG.Done()
	batch := make([]*op, 0, db.maxBatch)
	for first := range db.ops {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < db.maxBatch {
			select {
			case o, ok := <-db.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		db.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs the ops of one batch in one transaction. If any of them
// fails, or the commit fails, the transaction is rolled back and each op is
// run again in a transaction of its own.
func (db *DB) runBatch(batch []*op) {
	live := batch[:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			if o.state.CompareAndSwap(opPending, opCancelled) {
				o.done <- err
			}
			continue
		}
		if !o.state.CompareAndSwap(opPending, opStarted) {
			continue // Update already returned ctx.Err()
		}
		live = append(live, o)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		db.runAlone(live[0])
		return
	}
	btx, err := db.bolt.Begin(true)
	if err != nil {
		err = fmt.Errorf("storage: begin write transaction: %w", err)
		for _, o := range live {
			db.finish(o, err)
		}
		return
	}
	for _, o := range live {
		if err := callFn(o.fn, &Tx{tx: btx, now: db.now()}); err != nil {
			_ = btx.Rollback()
			db.runEachAlone(live)
			return
		}
	}
	if err := btx.Commit(); err != nil {
		// Commit has rolled back. Retry one by one so that an op that
		// cannot be committed fails alone.
		db.runEachAlone(live)
		return
	}
	db.commits.Add(1)
	for _, o := range live {
		db.finish(o, nil)
	}
}

func (db *DB) runEachAlone(ops []*op) {
	for _, o := range ops {
		db.runAlone(o)
	}
}

// runAlone runs one op in its own transaction.
func (db *DB) runAlone(o *op) {
	db.finish(o, db.runTx(o.fn))
}

// runTx runs fn in a read-write transaction and commits it, or rolls it back
// if fn fails.
func (db *DB) runTx(fn func(tx *Tx) error) error {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		return fmt.Errorf("storage: begin write transaction: %w", err)
	}
	if err := callFn(fn, &Tx{tx: btx, now: db.now()}); err != nil {
		_ = btx.Rollback()
		return err
	}
	if err := btx.Commit(); err != nil {
		return fmt.Errorf("storage: commit: %w", err)
	}
	db.commits.Add(1)
	return nil
}

func (db *DB) finish(o *op, err error) {
	db.opCount.Add(1)
	o.done <- err
}
