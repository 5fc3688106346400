package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parley-chat/parley/parley"
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
// commit. fn may be run more than once (when another update of the same
// batch fails, the batch is retried without that update, which is then
// retried alone); only the effects of its last run count, so fn must have
// no side effects outside tx other than filling in values it returns, and
// must not call Update or View (the writer would deadlock). If the commit
// fails (an I/O failure rather than an error of fn), Update fails with
// parley.EUnavailable, as do the other updates of that commit. After Close
// Update fails with parley.EUnavailable; on a DB opened with OpenReadOnly
// it fails with an error wrapping ErrReadOnly. In both cases fn is not run.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if fn == nil {
		return errors.New("storage: Update called with a nil function")
	}
	if db.readOnly {
		return fmt.Errorf("storage: update %s: %w", db.path, ErrReadOnly)
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

// runBatch runs the ops of one batch in one transaction, the way bbolt's
// own DB.Batch does: if an op fails, the transaction is rolled back, the op
// is set aside and the others are run again together (repeatedly, should
// another fail); each op set aside then runs alone in its own transaction,
// so that it gets its own true result. A batch with k failing ops thus
// costs one commit plus at most k more, however large it is. If the commit
// itself fails (an I/O failure, not an op's error), every op of the
// transaction fails with parley.EUnavailable; see Health.
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
	var solo []*op
	for len(live) > 1 {
		i := db.runTogether(live)
		if i < 0 {
			live = live[:0]
			break
		}
		solo = append(solo, live[i])
		live = slices.Delete(live, i, i+1)
	}
	if len(live) == 1 {
		solo = append(solo, live[0])
	}
	for _, o := range solo {
		db.runAlone(o)
	}
}

// runTogether runs ops in one transaction. If an op fails, it rolls the
// transaction back and returns that op's index, having finished no op.
// Otherwise it commits, finishes every op with the commit's result and
// returns -1.
func (db *DB) runTogether(ops []*op) int {
	btx, err := db.bolt.Begin(true)
	if err != nil {
		err = db.storageFailed("begin write transaction", err)
		for _, o := range ops {
			db.finish(o, err)
		}
		return -1
	}
	tx := &Tx{tx: btx, now: db.now()}
	for i, o := range ops {
		if err := callFn(o.fn, tx); err != nil {
			_ = btx.Rollback()
			return i
		}
	}
	err = db.commit(btx, len(ops))
	for _, o := range ops {
		db.finish(o, err)
	}
	return -1
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
		return db.storageFailed("begin write transaction", err)
	}
	if err := callFn(fn, &Tx{tx: btx, now: db.now()}); err != nil {
		_ = btx.Rollback()
		return err
	}
	return db.commit(btx, 1)
}

// commit commits btx, which holds n updates. On success it counts the
// commit and marks storage healthy again; on failure (the transaction is
// rolled back) it marks storage unhealthy and returns an EUnavailable error.
func (db *DB) commit(btx *bolt.Tx, n int) error {
	if db.commitHook != nil {
		if err := db.commitHook(); err != nil {
			_ = btx.Rollback()
			return db.storageFailed(fmt.Sprintf("commit of %d updates", n), err)
		}
	}
	start := time.Now()
	if err := btx.Commit(); err != nil {
		return db.storageFailed(fmt.Sprintf("commit of %d updates", n), err)
	}
	db.commitLatency.observe(time.Since(start))
	db.commits.Add(1)
	db.failure.Store(nil)
	return nil
}

// storageFailed records that the writer could not write, so that Health
// reports it, and returns the error for the updates concerned: code
// parley.EUnavailable, with what failed and why in its text.
func (db *DB) storageFailed(what string, cause error) error {
	err := fmt.Errorf("storage: %s failed at %s: %w (cause: %w)", what,
		parley.TimeOf(db.now()).Format(parley.TimeLayout),
		parley.Errorf(parley.EUnavailable, "Storage is unavailable; try again later."), cause)
	db.failure.Store(&err)
	return err
}

// Health returns nil while storage is writable, and otherwise the error of
// the last failed commit, with code parley.EUnavailable. It turns unhealthy
// when a commit fails and healthy again when a later commit succeeds.
func (db *DB) Health() error {
	if p := db.failure.Load(); p != nil {
		return *p
	}
	return nil
}

func (db *DB) finish(o *op, err error) {
	db.opCount.Add(1)
	o.done <- err
}
