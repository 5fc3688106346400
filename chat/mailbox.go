package chat

import "sync"

// mailbox is the FIFO of work for one owner (a session). It preallocates
// nothing: an idle mailbox holds no buffer and no goroutine. The first post
// to an idle mailbox calls start, which runs a worker; the worker takes
// work with next until the mailbox is empty, then exits, and the next post
// starts a new one. So at most one worker runs at a time, and it alone owns
// whatever the mailbox guards.
//
// Two kinds of posters use it. post never blocks, for the dispatcher,
// which must never wait on a session (sessions wait on the dispatcher, so
// the two can never deadlock). postWait blocks while limit items wait,
// which pushes back on a client's reader without a preallocated buffer.
//
// close is atomic with respect to posts: an item is either in the mailbox
// before close (and close returns it, or the worker has taken it) or its
// poster learns that the mailbox is closed. Nothing is dropped.
type mailbox[T any] struct {
	mu      sync.Mutex
	items   []T // waiting, oldest first; nil when empty
	limit   int // postWait blocks while this many items wait
	running bool
	closed  bool
	reason  error
	space   *sync.Cond // signalled when items are taken or the mailbox closes
	waiters int        // posters blocked in postWait
	start   func()     // called with mu held when a worker must start
}

// newMailbox returns an empty mailbox whose postWait blocks while limit
// items wait. start is called, with the mailbox locked, when work arrives
// and no worker runs; it must start one (go ...) without blocking.
func newMailbox[T any](limit int, start func()) *mailbox[T] {
	m := &mailbox[T]{limit: limit, start: start}
	m.space = sync.NewCond(&m.mu)
	return m
}

// post appends v without blocking and starts a worker if none runs. It
// returns the close reason, or nil once v is queued.
func (m *mailbox[T]) post(v T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appendLocked(v)
}

// postWait appends v, first waiting while the mailbox holds limit items.
// It returns the close reason, or nil once v is queued.
func (m *mailbox[T]) postWait(v T) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for !m.closed && len(m.items) >= m.limit {
		m.waiters++
		m.space.Wait()
		m.waiters--
	}
	return m.appendLocked(v)
}

func (m *mailbox[T]) appendLocked(v T) error {
	if m.closed {
		return m.reason
	}
	m.items = append(m.items, v)
	if !m.running {
		m.running = true
		m.start()
	}
	return nil
}

// next is for the worker: it removes and returns the oldest item and, while
// more returns true for them, up to max-1 items directly behind it. ok is
// false when the mailbox is empty or closed; the worker must then exit, as
// it no longer owns anything.
func (m *mailbox[T]) next(max int, more func(first, v T) bool) (batch []T, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || len(m.items) == 0 {
		m.running = false
		m.items = nil
		return nil, false
	}
	n := 1
	for n < max && n < len(m.items) && more(m.items[0], m.items[n]) {
		n++
	}
	batch = make([]T, n)
	copy(batch, m.items)
	if n == len(m.items) {
		// Drop the buffer: an idle mailbox keeps no memory.
		m.items = nil
	} else {
		clear(m.items[:n])
		m.items = m.items[n:]
	}
	if m.waiters > 0 {
		m.space.Broadcast()
	}
	return batch, true
}

// close refuses every later post with reason and returns what was posted
// but not taken, for the caller to answer. Only the first reason counts;
// closing again returns nothing.
func (m *mailbox[T]) close(reason error) []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed, m.reason = true, reason
	items := m.items
	m.items = nil
	m.space.Broadcast()
	return items
}

// len returns how many items wait.
func (m *mailbox[T]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}
