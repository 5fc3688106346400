package chat

import "sync"

// mailbox is an unbounded FIFO of messages with a wake-up channel. The
// dispatcher posts to session goroutines through mailboxes so that it never
// blocks on a session; sessions may block on the dispatcher, so the two can
// never deadlock.
type mailbox[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	wake   chan struct{}
}

func newMailbox[T any]() *mailbox[T] {
	return &mailbox[T]{wake: make(chan struct{}, 1)}
}

// post appends v and wakes the reader. It reports false if the mailbox is
// closed, in which case v was not delivered.
func (m *mailbox[T]) post(v T) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// take removes and returns everything posted so far.
func (m *mailbox[T]) take() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	return items
}

// close stops delivery and returns what was posted but not taken.
func (m *mailbox[T]) close() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	items := m.items
	m.items = nil
	return items
}
